"""``ixo chain watch|unwatch|watches``: the contracts the chain listener follows, as events on
the compacted ``ixo.chain.watches``.

A watch names its ABI by a compiled artifact of ours (``--artifact AlertRegistry``, compiled by
the pinned solcjs into the cache under the state dir) or a JSON file (``--abi FILE``: an ABI
list, or a Hardhat/Foundry artifact with an ``abi`` key); both are checked before anything is
published. The chain id is the node's (``IXO_ETH_RPC_URL``) unless ``--chain-id`` names one.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError

from cli import _output as out
from cli._config import load_settings
from cli._errors import CommandError, UsageError
from cli._kafka import connected_broker, unreachable
from consumers.chain_listener import (
    AbiUnavailable,
    KafkaWatchFeed,
    LogDecoder,
    RedisCheckpoints,
    Watch,
    WatchState,
    redacted,
)
from infra.kafka import EventPublisher, client_options, ensure_topics
from infra.redis import key_prefix, redis_client
from infra.settings import Settings
from schemas import (
    CHAIN_WATCHES,
    ChainWatchAddedV1,
    ChainWatchRemovedV1,
    CloudEvent,
    EventData,
    IxoError,
    codec_for,
)

EVENT_SOURCE = "/cli/chain"
MAX_ABI_BYTES = 5 * 1024 * 1024

chain_app = typer.Typer(
    help="The contracts the chain listener follows: watch, unwatch, list.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]
AddressArg = Annotated[str, typer.Argument(help="The contract's address (0x + 40 hex digits).")]
ChainOpt = Annotated[
    int | None,
    typer.Option(
        "--chain-id",
        min=1,
        help="The chain (default: the chain id of IXO_ETH_RPC_URL).",
        show_default=False,
    ),
]


def _checksummed(address: str) -> str:
    from eth_utils.address import is_address, to_checksum_address

    if not is_address(address) or len(address) != 42:
        msg = f"{address!r} is not a contract address (0x followed by 40 hex digits)"
        raise UsageError(msg)
    return str(to_checksum_address(address))


def node_chain_id(settings: Settings) -> int:
    """The chain id of ``IXO_ETH_RPC_URL`` (one ``eth_chainId``)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    where = redacted(settings.eth_rpc_url)
    try:
        reply = httpx.post(settings.eth_rpc_url, json=body, timeout=10, trust_env=False)
        return int(reply.json()["result"], 16)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        msg = f"cannot ask the chain id of {where} ({type(exc).__name__}): pass --chain-id"
        raise CommandError(msg) from None


def read_abi(path: Path) -> list[dict[str, Any]]:
    """An ABI from a JSON file: a list of items, or an object with an ``abi`` list."""
    try:
        if path.stat().st_size > MAX_ABI_BYTES:
            msg = f"--abi {path}: larger than {MAX_ABI_BYTES // (1024 * 1024)} MB"
            raise UsageError(msg)
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"--abi {path}: {exc.strerror or exc}"
        raise UsageError(msg) from None
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"--abi {path}: not JSON ({exc})"
        raise UsageError(msg) from None
    if isinstance(value, dict) and isinstance(value.get("abi"), list):
        value = value["abi"]
    if not isinstance(value, list):
        msg = f"--abi {path}: expected a JSON list of ABI items (or an object with an 'abi' list)"
        raise UsageError(msg)
    return value


def _check_decoder(abi: list[dict[str, Any]], what: str) -> LogDecoder:
    try:
        decoder = LogDecoder(abi)
    except AbiUnavailable as exc:
        msg = f"{what}: {exc}"
        raise UsageError(msg) from None
    if not decoder.events:
        out.warn(f"{what} declares no events: logs will be published undecoded")
    return decoder


def _check_artifact(settings: Settings, name: str) -> LogDecoder:
    from contracts import ContractsError, compile_contracts

    try:
        build = compile_contracts(settings.state_dir / "contracts" / "build-info")
        abi = build.artifact(name).abi
    except ContractsError as exc:
        msg = f"--artifact {name}: {exc}"
        raise UsageError(msg) from None
    return _check_decoder(list(abi), f"--artifact {name}")


async def _publish(settings: Settings, event: CloudEvent[Any]) -> None:
    await ensure_topics(settings, [CHAIN_WATCHES])
    async with connected_broker(settings, "ixo-cli-chain") as broker:
        await EventPublisher(broker, settings).publish(event, CHAIN_WATCHES)


async def read_watches(settings: Settings) -> dict[str, Watch]:
    """Every watch on the topic now (the last event of each address; every chain)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError

    watches: dict[str, Watch] = {}

    def apply(data: EventData) -> None:
        if isinstance(data, ChainWatchAddedV1):
            watch = Watch.of(data)
            watches[watch.key] = watch
        elif isinstance(data, ChainWatchRemovedV1):
            watches.pop(f"{data.chain_id}:{data.address.lower()}", None)

    consumer = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, client_id="ixo-cli-chain"
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise unreachable(settings, exc) from None
    try:
        topic = CHAIN_WATCHES.full_name(settings.topic_prefix)
        await KafkaWatchFeed(consumer, topic, codec_for(CHAIN_WATCHES).decode).load(apply)
    except IxoError as exc:
        if "does not exist" in str(exc):
            return {}
        raise CommandError(str(exc)) from None
    finally:
        await consumer.stop()
    return watches


async def _progress(settings: Settings, keys: list[str]) -> dict[str, WatchState | None]:
    redis = redis_client(settings)
    try:
        store = RedisCheckpoints(redis, key_prefix(settings, "chain"))
        return {key: await store.load(key) for key in keys}
    finally:
        await redis.aclose()


@chain_app.command("watch")
def watch_command(
    address: AddressArg,
    artifact: Annotated[
        str | None,
        typer.Option(
            "--artifact",
            help="Decode with this compiled contract of ours (e.g. AlertRegistryV2).",
            show_default=False,
        ),
    ] = None,
    abi_file: Annotated[
        Path | None,
        typer.Option(
            "--abi",
            help="Decode with the ABI in this JSON file.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    from_block: Annotated[
        int | None,
        typer.Option(
            "--from-block",
            min=0,
            help="The first block to read (default: the head when the listener first sees it).",
            show_default=False,
        ),
    ] = None,
    confirmations: Annotated[
        int | None,
        typer.Option(
            "--confirmations",
            min=0,
            max=1000,
            help="Blocks behind the head (default: IXO_CHAIN_CONFIRMATIONS).",
            show_default=False,
        ),
    ] = None,
    label: Annotated[str, typer.Option("--label", help="A name for people.")] = "",
    chain_id: ChainOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Follow a contract's logs (a second watch of the same address changes its ABI or label;
    the listener keeps its position)."""
    if artifact is not None and abi_file is not None:
        msg = "--artifact and --abi exclude each other"
        raise UsageError(msg)
    settings = load_settings()
    checked = _checksummed(address)
    abi: list[dict[str, Any]] | None = None
    if abi_file is not None:
        abi = read_abi(abi_file)
        decoder = _check_decoder(abi, f"--abi {abi_file}")
    elif artifact is not None:
        decoder = _check_artifact(settings, artifact)
    else:
        decoder = None
        out.note("no --artifact or --abi: logs will be published undecoded")
    chain = chain_id if chain_id is not None else node_chain_id(settings)
    try:
        data = ChainWatchAddedV1(
            chain_id=chain,
            address=checked,
            label=label,
            from_block=from_block,
            abi=abi,
            artifact=artifact,
            confirmations=confirmations,
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = f"{where}: {first['msg']}"
        raise UsageError(msg) from None
    asyncio.run(_publish(settings, CloudEvent.new(data, source=EVENT_SOURCE)))
    events = decoder.events if decoder is not None else []
    summary: dict[str, Any] = {
        "chain_id": chain,
        "address": checked,
        "label": label,
        "from_block": from_block,
        "abi": Watch.of(data).abi_source,
        "events": events,
        "confirmations": confirmations,
    }
    if json_:
        out.emit_json(summary)
        return
    out.result(
        f"watching {checked} on chain {chain} (ABI: {summary['abi']};"
        f" events: {', '.join(events) or 'none'})"
    )


@chain_app.command("unwatch")
def unwatch_command(address: AddressArg, chain_id: ChainOpt = None) -> None:
    """Stop following a contract (its checkpoint is kept: watching it again resumes there)."""
    settings = load_settings()
    checked = _checksummed(address)
    chain = chain_id if chain_id is not None else node_chain_id(settings)
    watches = asyncio.run(read_watches(settings))
    if f"{chain}:{checked.lower()}" not in watches:
        msg = f"{checked} is not watched on chain {chain} (`ixo chain watches` lists them)"
        raise CommandError(msg)
    data = ChainWatchRemovedV1(chain_id=chain, address=checked)
    asyncio.run(_publish(settings, CloudEvent.new(data, source=EVENT_SOURCE)))
    out.result(f"no longer watching {checked} on chain {chain}")


@chain_app.command("watches")
def watches_command(json_: JsonOpt = False) -> None:
    """The watches on the topic, with how far the listener got (its checkpoint in Redis)."""
    settings = load_settings()
    watches = asyncio.run(read_watches(settings))
    try:
        progress = asyncio.run(_progress(settings, list(watches)))
    except IxoError as exc:
        out.warn(f"checkpoints not read ({exc})")
        progress = dict.fromkeys(watches)
    rows = []
    for key, watch in sorted(watches.items()):
        state = progress.get(key)
        rows.append(
            {
                "chain_id": watch.chain_id,
                "address": watch.address,
                "label": watch.label,
                "abi": watch.abi_source,
                "from_block": watch.from_block,
                "confirmations": watch.confirmations,
                "next_block": state.next_block if state is not None else None,
                "reorgs": state.generation if state is not None else None,
            }
        )
    if json_:
        out.emit_json(rows)
        return
    if not rows:
        out.note("no watches (`ixo chain watch ADDRESS --artifact NAME` adds one)")
        return
    columns = ["chain_id", "address", "label", "abi", "from_block", "next_block", "reorgs"]
    out.table(
        columns,
        [[r[c] if r[c] is not None else "" for c in columns] for r in rows],
        right=["chain_id", "from_block", "next_block", "reorgs"],
        wrap=["label"],
    )
