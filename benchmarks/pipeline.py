"""Tick -> alert -> webhook through the real processes on a three-broker cluster, with 1, 2 and 4
rule-engine processes (``ixo run rule-engine --replicas N``) and one notifier (``ixo run
notifier``) delivering to a webhook receiver on loopback.

    python -m benchmarks.pipeline [--ticks N] [--symbols N] [--replicas 1,2,4] [--rate R]
                                  [--latency-s S]

One run per N, each under a topic prefix of its own (new topics, consumer groups and Redis
keys). Per run: one ``above 100`` repeat rule per symbol, each symbol's rule owned by its own
user, who has one webhook subscription to ``ixo.alert.triggered.v1`` (one bucket of the
notifier's per-subscription rate limit each: 100/s, burst 200, never reached by the defaults);
``--ticks`` ticks round-robin over ``--symbols`` symbols at 99, 101, 99, ... per symbol, so
every second tick of a symbol fires one alert. The receiver is a separate uvicorn process that
verifies every ``X-Ixo-Signature`` and notes when each tick's alert arrived.

Throughput: the rules, subscriptions and ticks are all published first. Then the notifier starts
and is waited for (its groups have folded the rules and subscriptions), then the rule-engine
processes start and drain the ticks. alerts/s is (count - 1) / (last - first) over the broker
timestamps of the alert records written once the tick group was seen Stable with its N members:
process start, the state rebuild at the first batch, and the rebalances while the N processes
join one after the other (the local cluster does not delay the first rebalance) are left out.
The whole-drain rate (every alert) is printed beside it; when fewer than 10 % of the alerts
came after the group settled (too few ticks), the whole-drain rate is reported, flagged.
deliveries/s is the same formula over the receiver's arrival times. The alert records must be
exactly the expected alerts, and each must reach the receiver (else the benchmark fails). A
short run before the measured ones warms the brokers, Redis and the page cache (not measured).

Latency: after the drain, ticks at ``--rate`` per second for ``--latency-s`` seconds, stamped
with the current time; tick publish -> alert record read back from the alerts topic (a reader
that follows it), and tick publish -> webhook received (the receiver's clock, same machine);
p50 and p99. When the notifier delivers fewer alerts per second than the rate produces, the
webhook latency is mostly its queue.

Scaling, measured: alerts/s at N over alerts/s at 1. Here the N processes share the machine's
cores with three brokers, Redis, FerretDB, the notifier and the receiver, so with 2 cores N=4
cannot scale by cores.

Scaling, SIMULATED (what independent cores would give): the consumer group's round-robin
assignor gives member i of N the ticks partitions p with p % N == i (6 partitions: N=2 gets 3
and 3, N=4 gets 2, 2, 1 and 1). Each member's share of the preloaded ticks (the same records, so
the same partitions and alerts) is drained by ONE rule-engine process in a run of its own, set
up like the N=1 run (the notifier running beside it), the shares one after the other. A share's
time is its alert count over its alerts/s. Projected alerts/s = all alerts / the slowest
share's time: N engines on N cores of their own, if Kafka, Redis and the notifier kept up. The
simulated scaling is the shares' times added (one process doing every share) over the slowest
share's time: both from runs of the same kind, so drift between runs on a shared machine does
not enter it (projected / measured N=1 would mix runs made minutes apart). The simulation
ignores what N processes cost each other besides cores (Redis, the brokers, rebalances).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks._receiver import receiver_process, receiver_stats
from benchmarks._stack import result_line
from cli._config import with_env
from consumers.notifier.app import GROUP_RULES as NOTIFIER_RULES
from consumers.notifier.app import GROUP_SUBSCRIPTIONS
from consumers.rule_engine.app import GROUP_TICKS
from infra.kafka import (
    EventPublisher,
    admin_client,
    client_options,
    ensure_topics,
    make_broker,
    offsets_consumer,
    partition_for,
    partitions_of,
)
from infra.runtime import tune_gc
from infra.secrets import SecretBox, new_key
from infra.settings import Settings
from schemas import (
    ALERT_MATCHES,
    ALERT_RULES,
    MARKET_TICKS,
    NOTIFY_DELIVERIES,
    NOTIFY_SUBSCRIPTIONS,
    AlertRuleCreatedV1,
    AlertTriggeredV1,
    AnyEvent,
    CloudEvent,
    MarketTickV1,
    SubscriptionCreatedV1,
    utc_now,
)

SOURCE = "/benchmarks/pipeline"
SECRET = "ixosec_pipeline_benchmark_0123456789"  # noqa: S105 - a benchmark's own
KEY = new_key()
LOW, HIGH = Decimal(99), Decimal(101)
TOPICS = tuple(
    t
    for topic in (MARKET_TICKS, ALERT_RULES, ALERT_MATCHES, NOTIFY_SUBSCRIPTIONS, NOTIFY_DELIVERIES)
    for t in (topic, topic.dlq)
)
CHUNK = 5000
STALL_S = 120.0
"""A wait fails when its count has not moved for this long."""
POLL_S = 0.2
MIN_SETTLED_SHARE = 0.1
"""Fewer alerts than this share written after the group settled: the whole drain is reported."""

Tick = CloudEvent[MarketTickV1]


class BenchError(RuntimeError):
    """The benchmark could not measure what it should (a count is off, a process died)."""


# -- the services -------------------------------------------------------------------------------


@contextlib.contextmanager
def services() -> Iterator[tuple[dict[str, str], str]]:
    """The ``IXO_*`` variables naming the services, and how they were found.

    ``IXO_BENCH_STACK=external``: the environment's; otherwise a local three-broker stack on
    free ports in a temporary directory, stopped afterwards (also on an error or Ctrl-C)."""
    if os.environ.get("IXO_BENCH_STACK") == "external":
        yield {k: v for k, v in os.environ.items() if k.startswith("IXO_")}, "external (IXO_*)"
        return
    from infra.stack import LocalStack, StackPorts

    with tempfile.TemporaryDirectory(prefix="ixo-bench-pipeline-") as tmp:
        stack = LocalStack(
            Path(tmp) / "state", StackPorts.free(3), kafka_impl="kafka", chain=False, brokers=3
        )
        try:
            stack.up(timeout=300)
            yield stack.env(), "local, 3 Kafka brokers, temporary"
        finally:
            stack.down()


def child_env(base: dict[str, str], prefix: str) -> dict[str, str]:
    """The environment of a run's processes: the services, the run's topic prefix, the
    benchmark's secrets key, and loopback allowed as a webhook target."""
    return {
        **os.environ,
        **base,
        "IXO_TOPIC_PREFIX": prefix,
        "IXO_SECRETS_KEYS": KEY,
        "IXO_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "IXO_LOG_LEVEL": "WARNING",
        "IXO_METRICS_PORT_BASE": "0",  # no /metrics servers: no ports taken on a shared machine
        "PYTHONUNBUFFERED": "1",
    }


# -- processes ----------------------------------------------------------------------------------


@dataclass
class Child:
    """``ixo run COMPONENT`` in a session of its own (stopped with its replicas as a group)."""

    name: str
    proc: asyncio.subprocess.Process
    log: Path

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n".join(f"  {self.name}| {line}" for line in text)

    def check(self) -> None:
        if self.proc.returncode is not None:
            msg = f"{self.name} exited with code {self.proc.returncode}:\n{self.tail()}"
            raise BenchError(msg)


async def start_child(
    component: str, replicas: int, env: dict[str, str], logs: Path, tag: str
) -> Child:
    log = logs / f"{tag}-{component}.log"
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", "run", component, "--replicas", str(replicas),
            env=env, stdout=out, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return Child(f"{component} x{replicas}", proc, log)


async def stop_children(children: Sequence[Child]) -> None:
    """SIGTERM each, then wait (a supervisor stops its replicas first); SIGKILL the process
    group of one that does not stop within a minute."""
    for child in children:
        if child.proc.returncode is None:
            child.proc.send_signal(signal.SIGTERM)
    for child in children:
        try:
            await asyncio.wait_for(child.proc.wait(), timeout=60)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            await child.proc.wait()


async def until(what: str, count: Callable[[], Awaitable[int]], target: int, live: Live) -> None:
    """Wait until ``count()`` reaches ``target``; fail when it has not moved for ``STALL_S`` or
    a process of the run exited."""
    children = live.children
    last, moved = -1, time.monotonic()
    while True:
        found = await count()
        if found >= target:
            return
        for child in children:
            child.check()
        if found != last:
            last, moved = found, time.monotonic()
        elif time.monotonic() - moved > STALL_S:
            tails = "\n".join(c.tail() for c in children)
            msg = f"{what}: {found} of {target}, no progress for {STALL_S:.0f} s\n{tails}"
            raise BenchError(msg)
        await asyncio.sleep(POLL_S)


# -- Kafka --------------------------------------------------------------------------------------


class AlertReader:
    """Follows the run's alerts topic from its beginning: every record's broker timestamp, the
    distinct match ids, and when each tick's alert was read here (epoch seconds)."""

    def __init__(self, settings: Settings) -> None:
        self.topic = ALERT_MATCHES.full_name(settings.topic_prefix)
        self.consumer = AIOKafkaConsumer(
            **client_options(settings), enable_auto_commit=False, client_id="ixo-bench-pipeline"
        )
        self.stamps_ms: list[int] = []
        self.matches: set[str] = set()
        self.seen: dict[str, float] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        tps = await partitions_of(self.consumer, self.topic)
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while not self._stop.is_set():
            batch = await self.consumer.getmany(timeout_ms=50)
            now = time.time()
            for records in batch.values():
                for rec in records:
                    self.stamps_ms.append(int(rec.timestamp))
                    data = orjson.loads(rec.value or b"{}").get("data", {})
                    self.matches.add(str(data.get("match_id")))
                    self.seen.setdefault(str(data.get("tick_id")), now)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        await self.consumer.stop()


async def caught_up(
    admin: AIOKafkaAdminClient, offsets: AIOKafkaConsumer, topic: str, group: str
) -> bool:
    """Has ``group`` committed every record of ``topic``?"""
    committed = await admin.list_consumer_group_offsets(group)
    tps = await partitions_of(offsets, topic)
    ends = await offsets.end_offsets(tps)
    return all(
        ends[tp] == 0 or (tp in committed and committed[tp].offset >= ends[tp]) for tp in tps
    )


async def settled_at(settings: Settings, group: str, members: int) -> float:
    """When ``group`` was first seen Stable with ``members`` members (epoch seconds)."""
    async with admin_client(settings) as admin:
        while True:
            for response in await admin.describe_consumer_groups([group]):
                for found in response.to_object()["groups"]:
                    if (
                        found["group"] == group
                        and found["state"] == "Stable"
                        and len(found["members"]) == members
                    ):
                        return time.time()
            await asyncio.sleep(0.1)


# -- events -------------------------------------------------------------------------------------


def symbol_names(n: int) -> list[str]:
    return [f"PL{i:04d}USDT" for i in range(n)]


def user_of(symbol: str) -> str:
    return f"pl-{symbol.lower()}"


def tick(j: int, symbols: Sequence[str], ts: datetime) -> Tick:
    """The ``j``-th tick: symbol ``j % S``, 99 in even rounds and 101 in odd ones (fires)."""
    price = HIGH if (j // len(symbols)) % 2 else LOW
    data = MarketTickV1(symbol=symbols[j % len(symbols)], price=price, venue="bench", ts=ts)
    return CloudEvent.new(data, source=SOURCE)


def preload(n: int, symbols: Sequence[str]) -> list[Tick]:
    """``n`` ticks stamped 1 ms apart, the last one now (the latency ticks come after)."""
    now = utc_now()
    return [tick(j, symbols, now - timedelta(milliseconds=n - j)) for j in range(n)]


def firing(ticks: Sequence[Tick]) -> int:
    return sum(1 for t in ticks if t.data.price == HIGH)


def setup_events(symbols: Sequence[str], url: str) -> list[AnyEvent]:
    """Per symbol: its user's webhook subscription, then the rule."""
    box = SecretBox([KEY])
    out: list[AnyEvent] = []
    for s in symbols:
        user = user_of(s)
        sub = SubscriptionCreatedV1.model_validate(
            {
                "subscription_id": f"sub-{user}",
                "owner": user,
                "url": url,
                "secret_enc": box.encrypt(SECRET),
                "event_types": (AlertTriggeredV1.event_type,),
            }
        )
        out.append(CloudEvent.new(sub, source=SOURCE))
    for s in symbols:
        rule = AlertRuleCreatedV1.model_validate(
            {
                "rule_id": f"rule-{s.lower()}",
                "user_id": user_of(s),
                "symbol": s,
                "condition": {"kind": "above", "threshold": "100"},
                "repeat": True,
                "cooldown_s": 0,
            }
        )
        out.append(CloudEvent.new(rule, source=SOURCE))
    return out


# -- one run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    env: dict[str, str]
    logs: Path
    receiver: str
    http: httpx.AsyncClient
    symbols: list[str]
    run_id: str


@dataclass(frozen=True)
class LatencyPlan:
    first: int
    rate: float
    seconds: float


@dataclass
class Drain:
    alerts: int
    rate: float
    """alerts/s after the group settled (the whole drain when it settled too late)"""
    whole: float
    window: int
    settled: bool
    deliveries: float

    @property
    def seconds(self) -> float:
        """The drain's time at ``rate``: the alert count over the rate."""
        return self.alerts / self.rate if self.rate else 0.0


@dataclass
class Latency:
    alert_ms: list[float] = field(default_factory=list)
    webhook_ms: list[float] = field(default_factory=list)
    expected: int = 0


def per_second(stamps: Sequence[float]) -> float:
    """(count - 1) / (last - first), ``stamps`` in seconds."""
    if len(stamps) < 2:
        return 0.0
    span = max(stamps) - min(stamps)
    return (len(stamps) - 1) / span if span > 0 else 0.0


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


@dataclass
class Live:
    """What a run holds while its processes run."""

    tag: str
    settings: Settings
    admin: AIOKafkaAdminClient
    offsets: AIOKafkaConsumer
    publisher: EventPublisher
    reader: AlertReader
    children: list[Child]

    async def caught_up(self, topic: str, group: str) -> int:
        return int(await caught_up(self.admin, self.offsets, topic, self.settings.group(group)))


async def run(
    bench: Bench,
    tag: str,
    ticks: Sequence[Tick],
    replicas: int,
    latency: LatencyPlan | None,
    *,
    deliveries: bool = True,
) -> tuple[Drain, Latency | None]:
    """One run under its own topic prefix: publish, start the notifier, then ``replicas``
    rule-engine processes; measure the drain (and, with ``deliveries``, wait for and check every
    webhook; with ``latency``, the latency); stop the processes."""
    env = child_env(bench.env, f"{bench.run_id}-{tag}.")
    settings = with_env(env)
    await ensure_topics(settings, TOPICS)
    async with contextlib.AsyncExitStack() as exits:
        broker = make_broker(settings, client_id="ixo-bench-pipeline")
        await broker.connect()
        exits.push_async_callback(broker.stop)
        publisher = EventPublisher(broker, settings)
        await publisher.publish_many(setup_events(bench.symbols, bench.receiver + "/hook"))
        for i in range(0, len(ticks), CHUNK):
            await publisher.publish_many(ticks[i : i + CHUNK])
        await bench.http.post(bench.receiver + "/reset")
        live = Live(
            tag,
            settings,
            await exits.enter_async_context(admin_client(settings)),
            await exits.enter_async_context(offsets_consumer(settings)),
            publisher,
            AlertReader(settings),
            [],
        )
        await live.reader.start()
        exits.push_async_callback(live.reader.stop)
        exits.push_async_callback(stop_children, live.children)
        prefix = settings.topic_prefix
        rules, subs = ALERT_RULES.full_name(prefix), NOTIFY_SUBSCRIPTIONS.full_name(prefix)

        async def notifier_ready() -> int:
            return int(
                await live.caught_up(rules, NOTIFIER_RULES)
                and await live.caught_up(subs, GROUP_SUBSCRIPTIONS)
            )

        live.children.append(await start_child("notifier", 1, env, bench.logs, tag))
        await until(f"{tag}: notifier folding rules and subscriptions", notifier_ready, 1, live)
        live.children.append(await start_child("rule-engine", replicas, env, bench.logs, tag))
        try:
            drain = await measure_drain(bench, live, firing(ticks), replicas, deliveries)
            if latency is None:
                return drain, None
            return drain, await measure_latency(bench, live, latency, delivered_before=drain.alerts)
        finally:
            noted(live)
    msg = "unreachable"  # the exit stack does not swallow exceptions
    raise AssertionError(msg)


NOTEWORTHY = ("warning", "error", "exception", "traceback", "critical")
EXPECTED_WARNINGS = (
    "IXO_TELEGRAM_TOKEN is not set",  # the notifier's start: webhooks only here
    "IXO_DISCORD_TOKEN is not set",
    "Auto create topics is disabled",  # FastStream's start (the topics were created)
)


def noted(live: Live) -> None:
    """The processes log at WARNING: say so when they warned of anything (first lines)."""
    for child in live.children:
        try:
            text = child.log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        lines = [
            x
            for x in text
            if any(word in x.lower() for word in NOTEWORTHY)
            and not any(known in x for known in EXPECTED_WARNINGS)
        ]
        if lines:
            shown = "\n".join(f"    | {x[:160]}" for x in lines[:3])
            print(f"  {live.tag} {child.name} warned {len(lines)} time(s):\n{shown}", flush=True)


async def measure_drain(
    bench: Bench, live: Live, expected: int, replicas: int, deliveries: bool
) -> Drain:
    """Wait for every alert (and delivery) of the preloaded ticks; check them; the rates."""
    tag, reader = live.tag, live.reader
    ticks_topic = MARKET_TICKS.full_name(live.settings.topic_prefix)
    settle = asyncio.create_task(
        settled_at(live.settings, live.settings.group(GROUP_TICKS), replicas)
    )
    try:

        async def alerts() -> int:
            return len(reader.stamps_ms)

        async def drained() -> int:
            return await live.caught_up(ticks_topic, GROUP_TICKS)

        await until(f"{tag}: alerts", alerts, expected, live)
        await until(f"{tag}: tick group committing", drained, 1, live)
        await asyncio.sleep(1.0)  # an alert beyond the expected ones would show by now
    finally:
        settle.cancel()  # a no-op when it has seen the group settled
    (found,) = await asyncio.gather(settle, return_exceptions=True)
    settled = found if isinstance(found, float) else None
    stamps = [s / 1000 for s in reader.stamps_ms]
    if len(stamps) != expected or len(reader.matches) != expected:
        msg = (
            f"{tag}: {len(stamps)} alert records, {len(reader.matches)} distinct matches; "
            f"expected exactly {expected}"
        )
        raise BenchError(msg)

    async def delivered() -> int:
        return int((await receiver_stats(bench.http, bench.receiver))["unique"])

    if deliveries:
        await until(f"{tag}: webhook deliveries", delivered, expected, live)
    got = await receiver_stats(bench.http, bench.receiver, full=True)
    if deliveries and (got["unique"] != expected or got["invalid"]):
        msg = f"{tag}: receiver {got['unique']} distinct deliveries, {got['invalid']} invalid"
        raise BenchError(msg)
    window = [s for s in stamps if settled is not None and s >= settled]
    good = len(window) >= max(2, MIN_SETTLED_SHARE * len(stamps))
    whole = per_second(stamps)
    drain = Drain(
        alerts=expected,
        rate=per_second(window) if good else whole,
        whole=whole,
        window=len(window) if good else len(stamps),
        settled=good,
        deliveries=per_second(list(got["arrivals"].values())) if deliveries else float("nan"),
    )
    repeats = got["count"] - got["unique"]
    delivery_text = (
        f"{drain.deliveries:,.0f} deliveries/s" if deliveries else "deliveries not waited for"
    )
    print(
        f"  {tag}: {expected:,} alerts, {drain.rate:,.0f} alerts/s "
        + (
            f"over the {drain.window:,} written after the group settled"
            if good
            else "over the whole drain (the group settled too late: raise --ticks)"
        )
        + f", whole drain {whole:,.0f}/s; {delivery_text}"
        + (f" ({repeats} repeated POSTs)" if repeats else ""),
        flush=True,
    )
    return drain


async def measure_latency(
    bench: Bench, live: Live, plan: LatencyPlan, *, delivered_before: int
) -> Latency:
    """Paced ticks, stamped now; tick publish -> alert read back and -> webhook received."""
    sent: dict[str, float] = {}
    pending = []
    began = time.perf_counter()
    for i in range(int(plan.rate * plan.seconds)):
        delay = began + i / plan.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        event = tick(plan.first + i, bench.symbols, utc_now())
        if event.data.price == HIGH:
            sent[event.id] = time.time()
        pending.append(await live.publisher.send(event))
    await asyncio.gather(*pending)
    seen = live.reader.seen

    async def read_back() -> int:
        return sum(1 for t in sent if t in seen)

    async def received() -> int:
        return int((await receiver_stats(bench.http, bench.receiver))["unique"])

    await until(f"{live.tag}: latency alerts", read_back, len(sent), live)
    await until(f"{live.tag}: latency webhooks", received, delivered_before + len(sent), live)
    arrivals: dict[str, float] = (await receiver_stats(bench.http, bench.receiver, full=True))[
        "arrivals"
    ]
    return Latency(
        alert_ms=[(seen[t] - at) * 1000 for t, at in sent.items()],
        webhook_ms=[(arrivals[t] - at) * 1000 for t, at in sent.items() if t in arrivals],
        expected=len(sent),
    )


# -- the benchmark ------------------------------------------------------------------------------


@dataclass
class Row:
    replicas: int
    drain: Drain
    latency: Latency | None
    simulated: Simulated | None = None


@dataclass(frozen=True)
class Simulated:
    projected: float
    """all alerts / the slowest share's time (alerts/s)"""
    slowest_s: float
    total_s: float
    """the shares' times added: one process draining them one after the other"""

    @property
    def scaling(self) -> float:
        return self.total_s / self.slowest_s if self.slowest_s else 0.0


async def simulate(bench: Bench, ticks: Sequence[Tick], n: int) -> Simulated:
    """``n`` engines on cores of their own: each member's share of the partitions drained by
    one process in a run of its own (see the module doc)."""
    partitions = MARKET_TICKS.partitions
    part = {s: partition_for(s, partitions) for s in bench.symbols}
    times: list[float] = []
    for i in range(n):
        share = [t for t in ticks if part[t.data.symbol] % n == i]
        mine = [p for p in range(partitions) if p % n == i]
        if firing(share) < 2:
            print(f"  N={n} share {i + 1}/{n} (partitions {mine}): no alerts to drain")
            continue
        print(
            f"  N={n} share {i + 1}/{n}: partitions {mine}, {len(share):,} ticks, one process",
            flush=True,
        )
        drain, _ = await run(bench, f"n{n}s{i + 1}", share, 1, None, deliveries=False)
        times.append(drain.seconds)
    if not times:
        return Simulated(0.0, 0.0, 0.0)
    return Simulated(firing(ticks) / max(times), max(times), sum(times))


async def bench_main(args: argparse.Namespace, env: dict[str, str], logs: Path) -> list[Row]:
    symbols = symbol_names(args.symbols)
    ticks = preload(args.ticks, symbols)
    counts = sorted({1, *(int(n) for n in args.replicas.split(","))})
    print(
        f"{len(ticks):,} ticks over {len(symbols)} symbols, {firing(ticks):,} alerts expected "
        f"per run; rule-engine processes {counts}",
        flush=True,
    )
    rows: list[Row] = []
    async with receiver_process(SECRET) as base, httpx.AsyncClient(timeout=60) as http:
        bench = Bench(env, logs, base, http, symbols, f"bench-pipeline-{uuid.uuid4().hex[:6]}")
        plan = LatencyPlan(len(ticks), args.rate, args.latency_s) if args.latency_s > 0 else None
        warm = ticks[: min(len(ticks), 20 * len(symbols))]
        print(f"== warm-up (not measured): {len(warm):,} ticks, 1 process", flush=True)
        await run(bench, "warm", warm, 1, None, deliveries=False)
        for n in counts:
            print(f"== {n} rule-engine process{'es' if n > 1 else ''}", flush=True)
            drain, latency = await run(bench, f"n{n}", ticks, n, plan)
            rows.append(Row(n, drain, latency))
            if latency is not None:
                print(f"  {latency_text(latency)}", flush=True)
        for row in rows:
            if row.replicas > 1:
                print(f"== simulated N={row.replicas}: the shares one after the other", flush=True)
                row.simulated = await simulate(bench, ticks, row.replicas)
    return rows


def latency_text(lat: Latency) -> str:
    missing = lat.expected - len(lat.webhook_ms)
    return (
        f"latency ({lat.expected:,} alerts): tick->alert p50 {pct(lat.alert_ms, 0.5):.1f} ms "
        f"p99 {pct(lat.alert_ms, 0.99):.1f} ms; tick->webhook p50 "
        f"{pct(lat.webhook_ms, 0.5):.1f} ms p99 {pct(lat.webhook_ms, 0.99):.1f} ms"
        + (f" ({missing} not received)" if missing else "")
    )


def report(rows: Sequence[Row]) -> str:
    by_n = {r.replicas: r for r in rows}
    base = by_n[1].drain.rate
    print(f"cores: {os.cpu_count()} (os.cpu_count())")
    for row in rows:
        d = row.drain
        line = (
            f"pipeline N={row.replicas}: {d.rate:,.0f} alerts/s"
            + ("" if d.settled else " (whole drain: the group settled too late)")
            + f", {d.deliveries:,.0f} deliveries/s, scaling {d.rate / base:.2f}x measured"
        )
        if (sim := row.simulated) is not None:
            line += (
                f", {sim.scaling:.2f}x SIMULATED (shares one after the other {sim.total_s:.2f} s,"
                f" slowest share {sim.slowest_s:.2f} s; projected {sim.projected:,.0f} alerts/s"
                f" for {row.replicas} processes on cores of their own)"
            )
        if row.latency is not None:
            lat = row.latency
            line += (
                f"; tick->alert p50/p99 {pct(lat.alert_ms, 0.5):.0f}/"
                f"{pct(lat.alert_ms, 0.99):.0f} ms, tick->webhook p50/p99 "
                f"{pct(lat.webhook_ms, 0.5):.0f}/{pct(lat.webhook_ms, 0.99):.0f} ms"
            )
        print(line)
    ours = by_n[2] if 2 in by_n else rows[-1]
    return result_line("pipeline", ours.drain.rate, base, "alerts/s")


def main(args: argparse.Namespace) -> None:
    tune_gc()
    # Leaders of just-created topics still move: aiokafka retries each such produce and logs it.
    logging.getLogger("aiokafka.producer.sender").setLevel(logging.ERROR)
    if args.ticks < 2 * args.symbols:
        msg = "--ticks must be at least twice --symbols (every symbol needs a 99 and a 101)"
        raise SystemExit(msg)
    with (
        tempfile.TemporaryDirectory(prefix="ixo-bench-pipeline-logs-") as logs,
        services() as (env, where),
    ):
        print(f"stack: {where}", flush=True)
        rows = asyncio.run(bench_main(args, env, Path(logs)))
    print(report(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ticks", type=int, default=40_000)
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--replicas", default="1,2,4", help="rule-engine processes per run")
    parser.add_argument("--rate", type=float, default=500.0, help="latency ticks per second")
    parser.add_argument("--latency-s", type=float, default=10.0, help="0: no latency phase")
    main(parser.parse_args())
