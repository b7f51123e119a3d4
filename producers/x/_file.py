"""Posts from a JSONL file, for offline use: one JSON object a line with ``id`` (digits),
``text``, ``author``, ``created_at`` (RFC 3339) and optional ``metrics``. Lines holding only a
``_comment`` key (the sample's label) and blank lines are skipped."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from producers.x._types import Post

SAMPLE_POSTS: Final = Path(__file__).parent / "data" / "sample_posts.jsonl"


class XFileError(ValueError):
    """A posts file that cannot be read; names the file and line."""


class _Line(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=r"^[0-9]{1,19}$")
    text: str
    author: str = Field(min_length=1, max_length=200)
    created_at: AwareDatetime
    metrics: dict[str, int] = Field(default_factory=dict)


def load_posts(path: Path) -> list[Post]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read {path}: {exc}"
        raise XFileError(msg) from exc
    posts: list[Post] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if isinstance(raw, dict) and set(raw) == {"_comment"}:
                continue
            item = _Line.model_validate(raw)
        except (ValueError, ValidationError) as exc:
            msg = f"{path}:{number}: not a post: {exc}"
            raise XFileError(msg) from exc
        created: datetime = item.created_at
        posts.append(Post(item.id, item.text, item.author, created, item.metrics))
    return posts
