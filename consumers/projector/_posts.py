"""The ``posts`` projection: every scraped post, once per ``post_id`` (a re-scrape of the same
post, with fresher metrics, replaces it: the later record wins)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import ClassVar

from consumers.projector._documents import offset_order
from consumers.projector._rows import Positioned, Row
from readmodels import Post, ReadModel
from schemas import SOCIAL_POSTS, SocialPostScrapedV1, Topic


def post_row(post: SocialPostScrapedV1, event_id: str, partition: int, offset: int) -> Row:
    """The ``posts`` row of one scraped post. Posts are keyed by ``post_id``, so all records of
    one post sit on one partition and the offset alone orders them."""
    order = offset_order(partition, offset)
    return Row(
        key=post.post_id,
        order=order,
        doc={
            "_id": post.post_id,
            "post_id": post.post_id,
            "author": post.author,
            "text": post.text,
            "url": post.url,
            "created_at": post.created_at.astimezone(UTC),
            "metrics": dict(post.metrics),
            "symbols": list(post.symbols),
            "event_id": event_id,
            "order": order,
        },
    )


class PostsProjection:
    """Maps ``ixo.social.post.scraped.v1`` events to ``posts`` rows."""

    name: ClassVar[str] = "posts"
    topic: ClassVar[Topic] = SOCIAL_POSTS
    document: ClassVar[type[ReadModel]] = Post

    def rows(self, items: Sequence[Positioned]) -> list[Row]:
        out = []
        for item in items:
            post = item.event.data
            if isinstance(post, SocialPostScrapedV1):
                out.append(post_row(post, item.event.id, item.partition, item.offset))
        return out
