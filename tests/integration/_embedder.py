"""Helpers of the embedder's tests: the real MiniLM loaded once per process, a tiny random
sentence-transformers model built offline (a "model change"), settings with a store of the
test's own, and waits on what a user sees (indexed events, search hits)."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path
from typing import Any

from consumers.embedder._model import SentenceModel, model_dir
from infra.settings import Settings
from infra.stack.standins import free_port
from schemas import RAG_DOCUMENTS
from tests._kafka import events_on

INDEXED = "ixo.rag.document.indexed.v1"


@functools.cache
def minilm() -> SentenceModel:
    """The packaged all-MiniLM-L6-v2, loaded once per test process."""
    return SentenceModel.load("all-minilm-l6-v2", batch_size=32)


def build_tiny_model(root: Path) -> Path:
    """A small random BERT (2 layers, 32 dimensions) with MiniLM's tokenizer, saved as a
    sentence-transformers model in ``root/tiny-bert-test``; nothing is downloaded."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    src = model_dir("all-minilm-l6-v2")
    bert = root / "bert"
    bert.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(7)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(bert)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(src / name, bert / name)
    transformer = models.Transformer(str(bert), max_seq_length=128)
    model = SentenceTransformer(
        modules=[transformer, models.Pooling(32), models.Normalize()], device="cpu"
    )
    out = root / "tiny-bert-test"
    model.save(str(out))
    return out


def embedder_settings(settings: Settings, tmp_path: Path, **update: Any) -> Settings:
    """The test's settings with a local store of its own and a free port for the server."""
    values: dict[str, Any] = {
        "qdrant_path": tmp_path / "qdrant",
        "embedder_port": free_port(),
        "embed_query_samples": 100,
    }
    values.update(update)
    return settings.model_copy(update=values)


async def indexed_events(settings: Settings) -> list[dict[str, Any]]:
    return [e for e in await events_on(settings, RAG_DOCUMENTS) if e["type"] == INDEXED]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
