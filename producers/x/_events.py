"""A post as an ``ixo.social.post.scraped.v1`` event whose id and time come from the post, so
publishing it again gives the same event."""

from __future__ import annotations

import uuid
from typing import Final

from producers.x._cashtags import extract_symbols
from producers.x._types import Post
from schemas import CloudEvent, SocialPostScrapedV1

NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:impressox:x-source")
"""uuid5 namespace of the events' ids (never change it: consumers dedupe by event id)."""
SOURCE_URI: Final = "/producers/x"


def post_url(post_id: str) -> str:
    return f"https://x.com/i/web/status/{post_id}"


def post_event(post: Post, source: str = SOURCE_URI) -> CloudEvent[SocialPostScrapedV1]:
    data = SocialPostScrapedV1(
        post_id=post.id,
        author=post.author,
        text=post.text,
        created_at=post.created_at,
        url=post_url(post.id),
        metrics=post.metrics,
        symbols=extract_symbols(post.text),
    )
    return CloudEvent.new(
        data,
        source=source,
        event_id=str(uuid.uuid5(NAMESPACE, f"x:{post.id}")),
        time=post.created_at,
    )
