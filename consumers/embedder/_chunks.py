"""Token-aware chunking with the model's own tokenizer (decision 0127).

A chunk holds at most ``capacity`` word pieces of the embedding model (counted by its
``tokenizer.json``, special tokens included), so the model never truncates one; neighbouring
chunks share up to ``overlap`` word pieces. ``semantic_text_splitter`` cuts at the highest
semantic boundary that fits (paragraphs, then sentences, then words). A text that fits whole
is one chunk without running the splitter (posts: the common case).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

RAG_HINT = "chunking needs the rag extra: pip install 'impressox[rag]'"


class Chunker:
    """Splits texts into chunks of at most ``capacity`` word pieces of one tokenizer."""

    def __init__(self, tokenizer: Tokenizer, *, capacity: int, overlap: int) -> None:
        if not 0 <= overlap < capacity:
            msg = f"overlap ({overlap}) must be below the chunk capacity ({capacity})"
            raise ValueError(msg)
        try:
            from semantic_text_splitter import TextSplitter
        except ImportError:
            raise ImportError(RAG_HINT) from None
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self.capacity = capacity
        self.overlap = overlap
        self._splitter = TextSplitter.from_huggingface_tokenizer(
            tokenizer, capacity, overlap=overlap, trim=True
        )

    @classmethod
    def from_file(cls, tokenizer_json: Path, *, capacity: int, overlap: int) -> Chunker:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise ImportError(RAG_HINT) from None
        return cls(Tokenizer.from_file(str(tokenizer_json)), capacity=capacity, overlap=overlap)

    def tokens(self, text: str) -> int:
        """Word pieces of ``text`` (special tokens included), as the splitter counts them."""
        return len(self._tokenizer.encode(text).ids)

    def chunks(self, text: str) -> list[str]:
        """The chunks of ``text`` in order; none for a text of whitespace only."""
        stripped = text.strip()
        if not stripped:
            return []
        # Short texts (posts) skip the splitter: counting their word pieces is cheap.
        if len(stripped) <= self.capacity * 8 and self.tokens(stripped) <= self.capacity:
            return [stripped]
        return list(self._splitter.chunks(stripped))
