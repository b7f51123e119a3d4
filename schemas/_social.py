"""Scraped social posts."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from schemas._base import EventData
from schemas._types import Id, Timestamp


class SocialPostScrapedV1(EventData):
    event_type: ClassVar[str] = "ixo.social.post.scraped.v1"
    key_field: ClassVar[str] = "post_id"

    post_id: Id
    author: str = Field(min_length=1, max_length=200)
    text: str = Field(max_length=100_000)
    created_at: Timestamp
    url: str = Field(min_length=1, max_length=2000)
    metrics: dict[str, int] = Field(default_factory=dict)
    symbols: tuple[str, ...] = ()
    """Market symbols the post mentions (cashtags such as ``$BTC`` -> ``BTCUSDT``)."""
