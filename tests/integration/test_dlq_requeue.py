"""Dead letters name the consumer group that failed them, and `ixo dlq requeue` sends each copy
back to that group alone, once, however often it runs (decision 0088).

Two groups on one topic both refuse a tick: the DLQ holds two copies, one per group. After the
fix, one requeue republishes both, each group processes its own copy exactly once (the other
group skips it), and a second requeue (even ``--all``) republishes nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from faststream.kafka import KafkaBroker

from infra.kafka import Delivery, EventPublisher, make_broker, subscribe
from infra.settings import Settings
from schemas import (
    DLQ_REQUEUES,
    HEADER_GROUP,
    HEADER_REQUEUE_OF,
    HEADER_REQUEUED_FOR,
    MARKET_TICKS,
    CloudEvent,
    MarketTickV1,
    PermanentError,
    utc_now,
)
from tests._kafka import eventually, headers_of, read_topic, wait_assigned

SOURCE = "/tests/dlq-requeue"
GROUPS = ("alpha", "beta")


def tick(symbol: str, seconds: int) -> CloudEvent[MarketTickV1]:
    data = MarketTickV1(
        symbol=symbol,
        price=Decimal("100"),
        venue="test",
        ts=utc_now() - timedelta(minutes=5) + timedelta(seconds=seconds),
    )
    return CloudEvent.new(data, source=SOURCE)


async def ixo_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        *args,
        "--json",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, stderr.decode()
    result: dict[str, Any] = json.loads(stdout)
    return result


async def test_each_group_gets_its_own_dead_letter_back_once(
    settings: Settings, settings_env: dict[str, str], topics: None
) -> None:
    broken = {"on": True}
    seen: dict[str, list[str]] = {group: [] for group in GROUPS}

    def handler(group: str) -> Any:
        async def handle(batch: Sequence[Delivery]) -> None:
            for delivery in batch:
                if broken["on"] and delivery.event.subject == "BADUSDT":
                    msg = "BADUSDT is refused until the fix"
                    raise PermanentError(msg)
            seen[group].extend(d.event.id for d in batch)

        return handle

    consumers: list[KafkaBroker] = []
    for group in GROUPS:
        broker = make_broker(settings, client_id=f"test-{group}")
        subscribe(broker, settings, MARKET_TICKS, group=group, handler=handler(group))
        consumers.append(broker)
    producer = make_broker(settings, client_id="test-producer")
    good, bad = tick("GOODUSDT", 1), tick("BADUSDT", 2)
    try:
        for broker in consumers:
            await broker.start()
            await wait_assigned(broker)
        await producer.start()
        await EventPublisher(producer, settings).publish_many([good, bad])

        async def two_dead_letters() -> list[Any]:
            dead = await read_topic(settings, MARKET_TICKS.dlq)
            return dead if len(dead) == 2 else []

        dead = await eventually(two_dead_letters)
        assert sorted(headers_of(r)[HEADER_GROUP] for r in dead) == sorted(
            settings.group(g) for g in GROUPS
        )
        for group in GROUPS:
            assert seen[group] == [good.id]

        broken["on"] = False  # the fix
        source_before = len(await read_topic(settings, MARKET_TICKS))

        dry = await ixo_json(settings_env, "dlq", "requeue", "ixo.market.ticks", "--dry-run")
        assert dry["requeued"] == 2
        assert dry["dry_run"] is True
        assert dry["by_group"] == {settings.group(g): 1 for g in GROUPS}
        assert len(await read_topic(settings, MARKET_TICKS)) == source_before  # nothing sent
        assert await read_topic(settings, DLQ_REQUEUES) == []

        done = await ixo_json(settings_env, "dlq", "requeue", "ixo.market.ticks")
        assert done["requeued"] == 2

        async def each_group_saw_it_again() -> bool:
            return all(bad.id in seen[g] for g in GROUPS)

        await eventually(each_group_saw_it_again)
        on_source = await read_topic(settings, MARKET_TICKS)  # in partition order
        assert len(on_source) == source_before + 2
        copies = [r for r in on_source if HEADER_REQUEUE_OF in headers_of(r)]
        assert len(copies) == 2
        assert sorted(headers_of(r)[HEADER_REQUEUED_FOR] for r in copies) == sorted(
            settings.group(g) for g in GROUPS
        )
        assert all(
            headers_of(r)[HEADER_REQUEUE_OF].startswith("ixo.market.ticks.dlq:") for r in copies
        )

        again = await ixo_json(settings_env, "dlq", "requeue", "ixo.market.ticks", "--all")
        assert again["requeued"] == 0
        assert again["already_requeued"] == 2
        ledger = await read_topic(settings, DLQ_REQUEUES)
        assert len(ledger) == 2
        recorded = [json.loads(r.value)["data"] for r in ledger]
        assert sorted(d["group"] for d in recorded) == sorted(settings.group(g) for g in GROUPS)
        assert {d["event_id"] for d in recorded} == {bad.id}

        # A later good tick is the proof that both groups went past the copies: each saw the
        # bad tick once after the fix (its own copy), not twice (the other group's copy too).
        late = tick("GOODUSDT", 3)
        await EventPublisher(producer, settings).publish(late)

        async def both_saw_the_late_tick() -> bool:
            return all(late.id in seen[g] for g in GROUPS)

        await eventually(both_saw_the_late_tick)
    finally:
        for broker in consumers:
            await broker.stop()
        await producer.stop()

    for group in GROUPS:
        assert seen[group] == [good.id, bad.id, late.id], group
    assert len(await read_topic(settings, MARKET_TICKS)) == source_before + 3
