"""Wiring of the chain listener: ``run_chain_listener(settings, stop)``; ``ixo run
chain-listener`` runs it until SIGTERM/SIGINT.

The node is ``IXO_ETH_RPC_URL`` (its chain id picks the watches to follow); checkpoints and
leases live in Redis under ``<topic prefix>ixo:chain:``; watches come from the compacted
``ixo.chain.watches`` (read whole at start by a group-less consumer, then followed); logs go to
``ixo.chain.logs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from typing import Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.asyncio import Redis

from consumers.chain_listener._artifacts import ContractAbis
from consumers.chain_listener._kafka import KafkaBatchSink, KafkaWatchFeed
from consumers.chain_listener._listener import ChainListener, ListenerConfig
from consumers.chain_listener._redis import RedisCheckpoints
from consumers.chain_listener._rpc import HttpRpc
from infra.kafka import client_options
from infra.redis import key_prefix, redis_client
from infra.settings import Settings
from schemas import CHAIN_LOGS, CHAIN_WATCHES, TransientError, codec_for

log = logging.getLogger(__name__)

REDIS_COMPONENT: Final = "chain"
CLIENT_ID: Final = "ixo-chain-listener"
MAX_BATCH_BYTES: Final = 1024 * 1024
CONNECT_PAUSE_S: Final = 2.0
MAX_CONNECT_PAUSE_S: Final = 30.0


def log_producer(settings: Settings) -> AIOKafkaProducer:
    """The producer of ``ixo.chain.logs``: idempotent, acks=all, batches up to 1 MB (as every
    producer of ours, see ``infra.kafka.make_broker``)."""
    return AIOKafkaProducer(
        **client_options(settings),
        client_id=CLIENT_ID,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=MAX_BATCH_BYTES,
    )


def config_of(settings: Settings) -> ListenerConfig:
    return ListenerConfig(
        confirmations=settings.chain_confirmations,
        poll_interval_s=settings.chain_poll_interval_s,
        max_range=settings.chain_max_range,
        max_logs=settings.chain_max_logs,
        window=settings.chain_reorg_window,
        lease_s=settings.chain_lease_s,
    )


def checkpoints_of(settings: Settings, redis: Redis) -> RedisCheckpoints:
    return RedisCheckpoints(
        redis, key_prefix(settings, REDIS_COMPONENT), lease_s=settings.chain_lease_s
    )


async def _chain_id(rpc: HttpRpc, stop: asyncio.Event) -> int | None:
    """The node's chain id, asked again (with a growing pause) until it answers or ``stop``."""
    pause = CONNECT_PAUSE_S
    while not stop.is_set():
        try:
            return await rpc.chain_id()
        except TransientError as exc:
            log.warning("chain listener: %s; again in %.0fs", exc, pause)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
        pause = min(MAX_CONNECT_PAUSE_S, pause * 2)
    return None


async def _load(feed: KafkaWatchFeed, listener: ChainListener, stop: asyncio.Event) -> int | None:
    """The watches folded from the topic (read again until it can be read, or ``stop``)."""
    pause = CONNECT_PAUSE_S
    while not stop.is_set():
        try:
            return await feed.load(listener.apply)
        except TransientError as exc:
            log.warning("chain listener: %s; again in %.0fs", exc, pause)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
        pause = min(MAX_CONNECT_PAUSE_S, pause * 2)
    return None


async def run_chain_listener(settings: Settings, stop: asyncio.Event) -> ChainListener | None:
    """Follow every watch of the node's chain until ``stop``; the listener (for its counters),
    or None when stopped before the node answered."""
    rpc = HttpRpc(settings.eth_rpc_url, timeout_s=settings.chain_rpc_timeout_s)
    try:
        chain_id = await _chain_id(rpc, stop)
        if chain_id is None:
            return None
        log.info("chain listener: chain %d at %s", chain_id, rpc.where)
        producer = log_producer(settings)
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            msg = f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
            raise TransientError(msg) from None
        redis = redis_client(settings)
        consumer = AIOKafkaConsumer(
            **client_options(settings), enable_auto_commit=False, client_id=CLIENT_ID
        )
        try:
            try:
                await consumer.start()
            except KafkaError as exc:
                msg = f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
                raise TransientError(msg) from None
            listener = ChainListener(
                chain_id,
                rpc=rpc,
                checkpoints=checkpoints_of(settings, redis),
                sink=KafkaBatchSink(producer, CHAIN_LOGS.full_name(settings.topic_prefix)),
                abis=ContractAbis(settings.state_dir / "contracts" / "build-info"),
                owner=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
                config=config_of(settings),
            )
            feed = KafkaWatchFeed(
                consumer,
                CHAIN_WATCHES.full_name(settings.topic_prefix),
                codec_for(CHAIN_WATCHES).decode,
            )
            count = await _load(feed, listener, stop)
            if count is None:
                return listener
            log.info(
                "chain listener: %d watch records read, %d watches on chain %d",
                count,
                len(listener.book.watches),
                chain_id,
            )
            following = asyncio.create_task(feed.follow(listener.apply, stop), name=CLIENT_ID)
            try:
                await listener.run(stop)
            finally:
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await following
            return listener
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            await redis.aclose()
            await producer.stop()
    finally:
        await rpc.aclose()
