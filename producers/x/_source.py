"""The X source: polls every query and timeline, publishes new posts, advances checkpoints.

One poll of a stream asks for posts newer than its checkpoint (``since_id``) and pages through
``next_token``. Each page is queued on Kafka and every acknowledgement awaited before the
progress is written; the checkpoint moves to the newest id only when the last page is on
Kafka. A stop mid-stream keeps ``until_id`` (the oldest post published), so the next run asks
for ``since_id < id < until_id`` first. A fresh stream (no checkpoint) reads only
``backfill_pages`` pages, so a start never spends the read budget on history.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from infra.kafka import EventPublisher
from producers.x._checkpoint import Checkpoints, Progress
from producers.x._client import XClient
from producers.x._events import post_event
from producers.x._types import Clock, Post, Stream, newer, older

log = logging.getLogger(__name__)


async def publish_posts(publisher: EventPublisher, posts: Sequence[Post]) -> None:
    """Queue every post and wait until Kafka acknowledged all of them."""
    futures = [await publisher.send(post_event(post)) for post in posts]
    await asyncio.gather(*futures)


class XSource:
    def __init__(
        self,
        client: XClient,
        publisher: EventPublisher,
        checkpoints: Checkpoints,
        streams: Sequence[Stream],
        *,
        clock: Clock,
        poll_interval_s: float = 60.0,
        backfill_pages: int = 1,
    ) -> None:
        self.client = client
        self.publisher = publisher
        self.checkpoints = checkpoints
        self.streams = tuple(streams)
        self.clock = clock
        self.poll_interval_s = poll_interval_s
        self.backfill_pages = backfill_pages
        self.published = 0

    async def poll(self, stream: Stream, stop: asyncio.Event | None = None) -> int:
        """Publish ``stream``'s new posts; the number published."""
        progress = await self.checkpoints.get(stream.key)
        since, newest, until = progress.since_id, progress.newest_id, progress.until_id
        fresh = since is None and until is None
        token: str | None = None
        pages = count = 0
        while True:
            page = await self.client.page(stream, since_id=since, until_id=until, next_token=token)
            if page.posts:
                await publish_posts(self.publisher, page.posts)
                count += len(page.posts)
                oldest: str | None = None
                for post in page.posts:
                    newest = newer(newest, post.id)
                    oldest = older(oldest, post.id)
                pages += 1
                if page.next_token is not None and not (fresh and pages >= self.backfill_pages):
                    progress = Progress(since_id=since, newest_id=newest, until_id=oldest)
                    await self.checkpoints.put(stream.key, progress)
                    token = page.next_token
                    if stop is not None and stop.is_set():
                        self.published += count
                        return count
                    continue
            await self.checkpoints.put(stream.key, Progress(since_id=newer(since, newest)))
            self.published += count
            return count

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every stream, pause ``poll_interval_s``, again, until ``stop`` is set."""
        while not stop.is_set():
            for stream in self.streams:
                n = await self.poll(stream, stop)
                if n:
                    log.info("x: %d new posts from %s", n, stream.key)
                if stop.is_set():
                    return
            pause = asyncio.ensure_future(self.clock.sleep(self.poll_interval_s))
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({pause, stopped}, return_when=asyncio.FIRST_COMPLETED)
            pause.cancel()
            stopped.cancel()
