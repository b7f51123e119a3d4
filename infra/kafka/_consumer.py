"""Consumer wiring shared by every FastStream app: decode, handle, retry, dead-letter, commit.

A subscriber here is a batch subscriber (shared/notes: 5x the per-message path). For each batch:

1. every record is decoded with the topic's codec; bytes that are not JSON, an unknown ``type``
   or a ``data`` that fails validation go to ``<topic>.dlq`` with the error, and the rest go on;
2. the handler gets the good records in offset order; if it raises, it is retried with backoff;
   after the retries, the batch is split and each record retried alone, so one poison record
   goes to the DLQ (``x-error-type: handler_failed``) and its neighbours are still processed;
   a :class:`PermanentError` (e.g. a record that can never be published) is not retried: the
   batch is split at once and the record that raises it alone is dead-lettered
   (``x-error-type: permanent_error``, its cause in ``x-error``), so it never holds up the
   records behind it on its partition or any other partition;
   a :class:`TransientError` (a dependency is down) is retried until ``transient_deadline_s``
   and then the batch is handed back to Kafka uncommitted (nack), never dead-lettered;
3. offsets are committed only after the handler's effects and the dead letters are durable.

A subscriber may cover several topics in one consumer group (the projector's ``trace``): each
record is decoded with its own topic's codec and dead-lettered to its own topic's DLQ.

Every consumer counts what it does in Prometheus (``infra.kafka._metrics``): records processed,
failed attempts, dead letters, handler latency, and its lag after each batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Literal

from aiokafka import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaAckableMessage
from faststream.message import StreamMessage

from infra.kafka import _metrics as metrics
from infra.kafka._publisher import EventPublisher
from infra.settings import Settings
from schemas import (
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_GROUP,
    HEADER_REQUEUED_FOR,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    AnyEvent,
    EventCodec,
    InvalidEvent,
    PermanentError,
    Topic,
    TransientError,
    codec_for,
    header_map,
)

log = logging.getLogger(__name__)

MAX_ERROR_LEN = 2000
HANDLER_FAILED = "handler_failed"
PERMANENT_ERROR = "permanent_error"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One decoded record and where it came from."""

    event: AnyEvent
    topic: str
    partition: int
    offset: int
    timestamp_ms: int


BatchHandler = Callable[[Sequence[Delivery]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a handler gave up on a batch: ``kind`` becomes the DLQ's ``x-error-type``."""

    kind: str
    error: str


def _describe(exc: BaseException) -> str:
    """``Type: message``, and the cause's when there is one (a PermanentError names Kafka's)."""
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    if cause is not None and str(cause) not in text:
        text += f" (caused by {type(cause).__name__}: {cause})"
    return text


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    transient_deadline_s: float = 120.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_backoff_s, self.backoff_s * (2**attempt)))


class DeadLetters:
    """Sends records, exactly as they came, to their topic's DLQ with ``x-error*`` headers.

    The value and key are kept; the headers too, except that helper headers written under their
    legacy ``ce_`` names are written under their current names (a ``ce_`` header would make
    CloudEvents readers take the record for binary mode).
    """

    def __init__(
        self, publisher: EventPublisher, settings: Settings, group: str | None = None
    ) -> None:
        self._publisher = publisher
        self._prefix = settings.topic_prefix
        self._group = group
        """The (prefixed) consumer group whose dead letters these are: ``x-consumer-group``."""

    async def send(
        self, topic: Topic, record: ConsumerRecord[Any, Any], kind: str, error: str
    ) -> asyncio.Future[Any]:
        headers = header_map(record.headers)
        headers.update(
            {
                HEADER_ERROR: error[:MAX_ERROR_LEN],
                HEADER_ERROR_TYPE: kind,
                HEADER_SOURCE_TOPIC: record.topic,
                HEADER_SOURCE_PARTITION: str(record.partition),
                HEADER_SOURCE_OFFSET: str(record.offset),
            }
        )
        if self._group is not None:
            headers[HEADER_GROUP] = self._group
        log.warning(
            "dead-lettered record",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error_type": kind,
                "error": error[:200],
            },
        )
        dlq = topic.dlq.full_name(self._prefix)
        try:
            return await self._publisher.send_raw(
                dlq, record.value or b"", key=record.key, headers=headers
            )
        except PermanentError as exc:
            # The value with our headers no longer fits: keep the error and where the record
            # is (its source offset), without the value, rather than block the partition.
            headers[HEADER_ERROR] = f"{error[: MAX_ERROR_LEN // 2]} (value not copied: {exc})"[
                :MAX_ERROR_LEN
            ]
            return await self._publisher.send_raw(dlq, b"", key=record.key, headers=headers)


async def _raw_records(msg: StreamMessage[Any]) -> Any:
    """FastStream decoder that hands the handler the ConsumerRecords untouched."""
    return msg.raw_message


def _per_topic(items: Sequence[Any], one_topic: bool) -> Counter[str]:
    """How many of ``items`` (records or deliveries) came from each topic; a consumer of one
    topic counts without looking at every item."""
    if one_topic:
        return Counter({items[0].topic: len(items)}) if items else Counter()
    return Counter(item.topic for item in items)


def requeued_for(record: ConsumerRecord[Any, Any]) -> str | None:
    """The one group a requeued record is meant for (``ixo-requeued-for``); None for others."""
    for name, value in record.headers or ():
        if name == HEADER_REQUEUED_FOR:
            return bytes(value).decode("utf-8", "replace")
    return None


class EventConsumer:
    """Decode, handle with retries, dead-letter. Independent of FastStream, so it is testable
    with records from any source; :func:`subscribe` wires it to a broker.

    ``topic`` is one catalogue topic, or several (one subscriber over many topics: each record
    is decoded with its topic's codec and dead-lettered to its topic's DLQ; ``prefix`` is the
    deployment's topic prefix, to know a record's catalogue topic from its Kafka name).
    ``group`` is the consumer's (prefixed) group: a record requeued from the DLQ for another
    group (``ixo-requeued-for``) is skipped, since this group processed the original
    (decision 0088); its dead letters name the group (``x-consumer-group``).
    """

    def __init__(
        self,
        topic: Topic | Sequence[Topic],
        handler: BatchHandler,
        dead_letters: DeadLetters,
        policy: RetryPolicy = RetryPolicy(),
        codec: EventCodec | None = None,
        *,
        group: str | None = None,
        prefix: str = "",
    ) -> None:
        topics = [topic] if isinstance(topic, Topic) else list(topic)
        if not topics:
            msg = "a consumer needs at least one topic"
            raise ValueError(msg)
        self.topic = topics[0]
        self._codec = codec or codec_for(self.topic)
        self._routes: dict[str, tuple[Topic, EventCodec]] = {
            t.full_name(prefix): (
                t,
                codec if codec is not None and len(topics) == 1 else codec_for(t),
            )
            for t in topics
        }
        self._handler = handler
        self._dead = dead_letters
        self._policy = policy
        self._group = group
        self._group_label = group or ""
        self._label = self.topic.full_name(prefix) if len(topics) == 1 else "*"
        """The ``topic`` label of the handler's metrics (``*`` for a multi-topic consumer)."""
        self.skipped = 0
        """Records requeued for another group, seen and left alone."""

    def _route(self, topic: str) -> tuple[Topic, EventCodec]:
        return self._routes.get(topic) or (self.topic, self._codec)

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        good: list[Delivery] = []
        kept: list[ConsumerRecord[Any, Any]] = []
        """The records of ``good``, in the same order (to dead-letter one as it came)."""
        pending: list[asyncio.Future[Any]] = []
        skipped: Counter[str] = Counter()
        group_id = self._group
        one_topic = len(self._routes) == 1
        for record in records:
            if record.headers and group_id is not None:
                target = requeued_for(record)
                if target is not None and target != group_id:
                    self.skipped += 1
                    skipped[record.topic] += 1
                    continue
            topic, codec = (self.topic, self._codec) if one_topic else self._route(record.topic)
            try:
                event = codec.decode(record.value or b"")
            except InvalidEvent as exc:
                pending.append(await self._dead_letter(topic, record, exc.kind, str(exc)))
                continue
            good.append(
                Delivery(event, record.topic, record.partition, record.offset, record.timestamp)
            )
            kept.append(record)
        group = self._group_label
        for name, count in _per_topic(records, one_topic).items():
            metrics.BATCH_RECORDS.labels(group, name).observe(count)
        for name, count in skipped.items():
            metrics.SKIPPED.labels(group, name).inc(count)
        if good:
            failed = await self._handle(good)
            done = _per_topic(good, one_topic)
            if failed:
                record_of = {id(d): r for d, r in zip(good, kept, strict=True)}
                for delivery, failure in failed:
                    done[delivery.topic] -= 1
                    record = record_of[id(delivery)]
                    topic, _ = self._route(record.topic)
                    pending.append(
                        await self._dead_letter(topic, record, failure.kind, failure.error)
                    )
            for name, count in done.items():
                if count > 0:
                    metrics.RECORDS.labels(group, name).inc(count)
        if pending:
            await asyncio.gather(*pending)

    async def _dead_letter(
        self, topic: Topic, record: ConsumerRecord[Any, Any], kind: str, error: str
    ) -> asyncio.Future[Any]:
        metrics.DEAD_LETTERED.labels(self._group_label, record.topic, kind).inc()
        return await self._dead.send(topic, record, kind, error)

    def _failed(self, batch: Sequence[Delivery], kind: str) -> None:
        for name, count in Counter(d.topic for d in batch).items():
            metrics.FAILED.labels(self._group_label, name, kind).inc(count)

    async def _handle(self, batch: Sequence[Delivery]) -> list[tuple[Delivery, Failure]]:
        """Run the handler; returns the deliveries that kept failing, with why."""
        failure = await self._attempt(batch)
        if failure is None:
            return []
        if len(batch) == 1:
            return [(batch[0], failure)]
        failed: list[tuple[Delivery, Failure]] = []
        for delivery in batch:
            one = await self._attempt([delivery])
            if one is not None:
                failed.append((delivery, one))
        return failed

    async def _attempt(self, batch: Sequence[Delivery]) -> Failure | None:
        policy = self._policy
        attempt = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + policy.transient_deadline_s
        latency = metrics.HANDLER_SECONDS.labels(self._group_label, self._label)
        while True:
            started = time.perf_counter()
            try:
                await self._handler(batch)
            except TransientError as exc:
                latency.observe(time.perf_counter() - started)
                self._failed(batch, "transient")
                if loop.time() >= deadline:
                    log.exception("dependency still failing; leaving the batch uncommitted")
                    raise
                log.warning("transient failure, retrying", extra={"error": str(exc)})
                await asyncio.sleep(policy.delay(min(attempt, 10)))
                attempt += 1
            except PermanentError as exc:
                latency.observe(time.perf_counter() - started)
                self._failed(batch, "permanent")
                first = batch[0]
                log.warning(
                    "permanent failure, not retried",
                    extra={
                        "topic": first.topic,
                        "partition": first.partition,
                        "offset": first.offset,
                        "event_id": first.event.id,
                        "records": len(batch),
                        "error": str(exc)[:200],
                    },
                )
                return Failure(PERMANENT_ERROR, _describe(exc))
            except Exception as exc:
                latency.observe(time.perf_counter() - started)
                self._failed(batch, "error")
                attempt += 1
                if attempt >= policy.attempts:
                    first = batch[0]
                    log.exception(
                        "handler failed",
                        extra={
                            "topic": first.topic,
                            "partition": first.partition,
                            "offset": first.offset,
                            "event_id": first.event.id,
                        },
                    )
                    return Failure(HANDLER_FAILED, _describe(exc))
                await asyncio.sleep(policy.delay(attempt))
            else:
                latency.observe(time.perf_counter() - started)
                return None


def observe_lag(consumer: Any, records: Sequence[ConsumerRecord[Any, Any]], group: str) -> None:
    """Set the lag gauges of the partitions in ``records`` from ``consumer``'s high watermarks
    (known locally after a fetch; nothing is asked of the broker)."""
    last: dict[tuple[str, int], ConsumerRecord[Any, Any]] = {}
    for record in records:
        seen = last.get((record.topic, record.partition))
        if seen is None or record.offset > seen.offset:
            last[record.topic, record.partition] = record
    now_ms = time.time() * 1000
    assigned = consumer.assignment()
    for (topic, partition), record in last.items():
        tp = TopicPartition(topic, partition)
        if tp not in assigned:  # revoked meanwhile: no figure this time
            continue
        high = consumer.highwater(tp)
        if high is None:
            continue
        behind = max(0, int(high) - (record.offset + 1))
        metrics.LAG.labels(group, topic, str(partition)).set(behind)
        seconds = max(0.0, (now_ms - record.timestamp) / 1000) if behind else 0.0
        metrics.LAG_SECONDS.labels(group, topic, str(partition)).set(seconds)


BATCH_TIMEOUT_MS = 100
"""How long a subscriber's poll waits for records before it polls again."""


CATCH_UP_MS = 5
"""How long a poll waits for the fetch it starts after taking records that were already
buffered (the broker answers at once when it has records; this bounds the wait when not)."""
BUSY_S = 0.002
READY_S = 0.001


def _poll_without_blind_wait(subscriber: Any, max_records: int) -> None:
    """Replace the batch subscriber's poll with one that hands the handler what the broker has
    now, not what it had when the previous batch started.

    - FastStream's poll sleeps ``batch_timeout_ms`` after every empty ``getmany`` (a guard
      against spinning while the consumer has no partitions), so a record arriving during that
      sleep waited for it on top of the poll's own wait: at a low rate, most records did
      (decision 0182). This poll sleeps only with no partitions.
    - aiokafka fetches again as soon as the buffered records are taken, and a fetch returns as
      soon as the broker has one record: while the handler works on a batch, the buffer holds
      the few records that came first, and everything arriving after them waits at the broker
      for the next poll, so most records waited for two handler runs. When the handler was busy
      (``BUSY_S``) and the poll found records already buffered (it returned within
      ``READY_S``), this poll takes them and waits up to ``CATCH_UP_MS`` for the fetch that
      taking them started, and hands both in one batch (decision 0186).
    """
    last_return = [0.0]

    async def get_msg(consumer: Any) -> tuple[ConsumerRecord[Any, Any], ...]:
        started = time.perf_counter()
        found = await consumer.getmany(timeout_ms=BATCH_TIMEOUT_MS, max_records=max_records)
        records = list(chain.from_iterable(found.values()))
        if (
            records
            and len(records) < max_records
            and started - last_return[0] > BUSY_S
            and time.perf_counter() - started < READY_S
        ):
            try:
                more = await consumer.getmany(
                    timeout_ms=CATCH_UP_MS, max_records=max_records - len(records)
                )
            except Exception:  # the records in hand are handled first; the next poll says it
                log.debug("catch-up poll failed; handling the records in hand", exc_info=True)
            else:
                records.extend(chain.from_iterable(more.values()))
        last_return[0] = time.perf_counter()
        if not records and not consumer.assignment():
            await asyncio.sleep(BATCH_TIMEOUT_MS / 1000)
        return tuple(records)

    subscriber.get_msg = get_msg


def _lean_batch_parser(subscriber: Callable[[], Any]) -> Callable[[Any], Awaitable[Any]]:
    """FastStream's batch parser decodes every record's headers into a dict per record (for
    the message's ``batch_headers``), which nothing here reads: the handler gets the records
    themselves (``_raw_records``). This one builds the same ackable message around the batch
    without that per-record work. Kept off when tracing is on: the tracing middleware links a
    consume span to each record's ``traceparent`` header."""

    async def parse(records: tuple[ConsumerRecord[Any, Any], ...]) -> StreamMessage[Any]:
        first, last = records[0], records[-1]
        return KafkaAckableMessage(
            body=b"",
            raw_message=records,
            message_id=f"{first.offset}-{last.offset}-{first.timestamp}",
            consumer=subscriber().consumer,
        )

    return parse


def subscribe(
    broker: KafkaBroker,
    settings: Settings,
    topic: Topic | Sequence[Topic],
    *,
    group: str,
    handler: BatchHandler,
    policy: RetryPolicy = RetryPolicy(),
    max_records: int = 500,
    auto_offset_reset: Literal["earliest", "latest"] = "earliest",
    codec: EventCodec | None = None,
    title: str | None = None,
    description: str | None = None,
) -> EventConsumer:
    """Register a batch subscriber for ``topic`` (or several topics, in one subscription) in
    consumer group ``group`` (all prefixed).

    Offsets are committed after ``handler`` returned and dead letters were acknowledged; if the
    wrapper raises (a dependency down for too long), the batch is sought back and redelivered.
    ``codec`` defaults to the topic's catalogue codec (one topic only). ``title`` names the
    subscriber in the AsyncAPI document (default ``group:topic``).
    """
    topics = [topic] if isinstance(topic, Topic) else list(topic)
    group_id = settings.group(group)
    consumer = EventConsumer(
        topics,
        handler,
        DeadLetters(EventPublisher(broker, settings), settings, group_id),
        policy,
        codec,
        group=group_id,
        prefix=settings.topic_prefix,
    )
    subscriber: Any = None

    async def on_batch(records: Any) -> None:
        await consumer.process(records)
        if subscriber is not None and subscriber.consumer is not None:
            observe_lag(subscriber.consumer, records, group_id)

    subscriber = broker.subscriber(
        *(t.full_name(settings.topic_prefix) for t in topics),
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=BATCH_TIMEOUT_MS,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        auto_offset_reset=auto_offset_reset,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_raw_records,
        parser=None if settings.otel_enabled else _lean_batch_parser(lambda: subscriber),
        title=title or f"{group}:{topics[0].name}",
        description=description if description is not None else topics[0].description,
    )
    _poll_without_blind_wait(subscriber, max_records)
    subscriber(on_batch)
    return consumer
