"""The X source against the stand-in X API, on the real Kafka and Redis: pagination, a restart
mid-stream and forced disconnects give every post exactly once on ``ixo.social.posts``; rate
limits are planned (no request inside a spent window) and a 429 waits for the reset. Time is a
fake clock shared by the client and the stand-in: nothing waits for real."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from infra.kafka import EventPublisher
from infra.redis import key_prefix
from infra.settings import Settings
from infra.stack.standins import XRequest, XStandin
from infra.stack.standins._x import SEARCH, TIMELINE
from producers.x import Progress, RedisCheckpoints, Stream, XClient, XSource, run_x_source
from schemas import SOCIAL_POSTS, SocialPostScrapedV1, codec_for
from tests._kafka import read_topic

BTC = Stream("search", "$btc")
T0 = 1_750_000_000.0


class FakeClock:
    """Epoch time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = T0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def x(clock: FakeClock) -> AsyncIterator[XStandin]:
    async with XStandin(clock=clock.time) as standin:
        yield standin


Make = Callable[..., XSource]


@pytest.fixture
async def make_source(
    settings: Settings, publisher: EventPublisher, redis: Redis, x: XStandin, clock: FakeClock
) -> AsyncIterator[Make]:
    clients: list[XClient] = []

    def make(*streams: Stream, max_results: int = 10, backfill_pages: int = 100) -> XSource:
        client = XClient(x.url, SecretStr(x.token), clock=clock, max_results=max_results)
        clients.append(client)
        checkpoints = RedisCheckpoints(redis, key_prefix(settings, "x"))
        return XSource(
            client,
            publisher,
            checkpoints,
            streams or (BTC,),
            clock=clock,
            backfill_pages=backfill_pages,
        )

    yield make
    for client in clients:
        await client.aclose()


async def posts_on_kafka(settings: Settings) -> Counter[str]:
    codec = codec_for(SOCIAL_POSTS)
    counts: Counter[str] = Counter()
    for record in await read_topic(settings, SOCIAL_POSTS):
        assert record.value is not None
        data = codec.decode(record.value).data
        assert isinstance(data, SocialPostScrapedV1)
        counts[data.post_id] += 1
    return counts


async def test_pagination_and_a_restart_mid_stream_give_every_post_once(
    settings: Settings, x: XStandin, make_source: Make, redis: Redis
) -> None:
    history = [x.add_post(f"$BTC old {i}") for i in range(15)]
    x.add_post("$ETH only, not a match")
    # A fresh start reads one page (the newest 10), not the whole history.
    assert await make_source(backfill_pages=1).poll(BTC) == 10
    skipped = set(history[:5])

    batch = [x.add_post(f"$BTC new {i}") for i in range(25)]
    stop = asyncio.Event()
    served = len(x.requests)

    def stop_after_two_pages(request: XRequest) -> None:
        if len(x.requests) - served >= 2:
            stop.set()

    x.on_request = stop_after_two_pages
    assert await make_source().poll(BTC, stop) == 20  # stopped mid-stream after two pages
    x.on_request = None
    progress = await RedisCheckpoints(redis, key_prefix(settings, "x")).get(BTC.key)
    assert progress.until_id is not None
    assert progress.since_id == history[-1]

    restarted = make_source()
    assert await restarted.poll(BTC) == 5  # resumes below what was published
    assert (await restarted.checkpoints.get(BTC.key)) == Progress(since_id=batch[-1])
    later = [x.add_post(f"$BTC later {i}") for i in range(3)]
    assert await restarted.poll(BTC) == 3
    assert await restarted.poll(BTC) == 0

    counts = await posts_on_kafka(settings)
    expected = (set(history) - skipped) | set(batch) | set(later)
    assert set(counts) == expected
    assert set(counts.values()) == {1}


async def test_twenty_forced_disconnects_lose_and_duplicate_nothing(
    settings: Settings, x: XStandin, make_source: Make
) -> None:
    ids = [x.add_post(f"$BTC {i}") for i in range(30)] + [
        x.add_post(f"gm {i}", author_id="7") for i in range(12)
    ]
    drops = 0

    def drop_before_each_answer(request: XRequest) -> None:
        nonlocal drops
        if drops < 20:
            x.drop(4)
            drops += 4

    x.drop(4)
    drops = 4
    x.on_request = drop_before_each_answer
    source = make_source(BTC, Stream("timeline", "7"))
    assert await source.poll(BTC) == 30
    assert await source.poll(Stream("timeline", "7")) == 12
    assert len(x.requests_to("drop")) == 20
    assert source.client.transport_errors == 20
    assert any("pagination_token" in r.params for r in x.requests_to(TIMELINE))

    counts = await posts_on_kafka(settings)
    assert set(counts) == set(ids)
    assert set(counts.values()) == {1}


async def test_no_request_is_sent_in_a_spent_window(
    settings: Settings, x: XStandin, make_source: Make, clock: FakeClock
) -> None:
    for i in range(12):
        x.add_post(f"$BTC {i}")
    reset = T0 + 600
    x.set_window(SEARCH, remaining=1, reset=reset)
    assert await make_source(max_results=5).poll(BTC) == 12

    times = [r.at for r in x.requests_to(SEARCH)]
    assert len(times) == 3
    assert times[0] == T0
    assert all(t >= reset for t in times[1:])  # the spent window was waited out
    assert {r.status for r in x.requests_to(SEARCH)} == {200}  # planned, never hit


async def test_a_429_waits_until_the_reset(
    settings: Settings, x: XStandin, make_source: Make, clock: FakeClock
) -> None:
    ids = [x.add_post(f"$BTC {i}") for i in range(3)]
    x.fail_429(SEARCH, reset=T0 + 300)
    assert await make_source().poll(BTC) == 3

    answered = x.requests_to(SEARCH)
    assert [r.status for r in answered] == [429, 200]
    assert answered[0].at == T0
    assert answered[1].at >= T0 + 300
    assert set(await posts_on_kafka(settings)) == set(ids)


async def test_the_sample_file_source_publishes_every_post(
    settings: Settings, topics: None
) -> None:
    sample = settings.model_copy(update={"x_source": "sample"})
    assert await run_x_source(sample, asyncio.Event()) == 40
    counts = await posts_on_kafka(settings)
    assert len(counts) == 40
    assert set(counts.values()) == {1}
