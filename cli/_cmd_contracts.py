"""``ixo contracts compile|deploy|upgrade|status``: the Solidity contracts on an EVM chain.

Compiles with the pinned solcjs (cached by source hash under ``<state dir>/contracts/build-info``),
deploys behind an ERC1967 proxy, upgrades after OpenZeppelin upgrades-core accepted the new
storage layout, and keeps a deployment record per chain under
``<state dir>/contracts/deployments``. The signing key comes from ``IXO_ETH_PRIVATE_KEY``
(a ``SecretStr``, never printed), or from the local stack's anvil when the RPC URL is that anvil.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import SecretStr

from cli import _output as out
from cli._config import load_settings
from cli._errors import CliError, CommandError, UsageError
from cli._kafka import connected_broker
from contracts import (
    DEFAULT_ROOTS,
    Build,
    ContractsError,
    DeploymentRecord,
    DeploymentStore,
    compile_contracts,
    require_compatible,
)
from infra.kafka import EventPublisher, ensure_topics
from infra.settings import Settings
from infra.stack import LocalStack, anvil_dev_account
from schemas import CHAIN_CONTRACTS, CHAIN_WATCHES, ChainWatchAddedV1, CloudEvent, IxoError

if TYPE_CHECKING:
    from contracts import Chain

EVENT_SOURCE = "/cli/contracts"

contracts_app = typer.Typer(
    help="Solidity contracts: compile, deploy behind a proxy, upgrade safely, status.",
    no_args_is_help=True,
)

DEFAULT_NAME = "AlertRegistry"

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]
SourcesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sources",
        help="Source directory under contracts/ to compile (repeatable; default: src).",
        show_default=False,
    ),
]
NameOpt = Annotated[
    str, typer.Option("--name", help="The deployment's name (one proxy per name and chain).")
]


def build_dir(settings: Settings) -> Path:
    return settings.state_dir / "contracts" / "build-info"


def deployment_store(settings: Settings) -> DeploymentStore:
    return DeploymentStore(settings.state_dir / "contracts" / "deployments")


def signing_key(settings: Settings) -> tuple[SecretStr, str]:
    """The key that signs, and where it came from (for people; never the key itself)."""
    if settings.eth_private_key.get_secret_value().strip():
        return settings.eth_private_key, "IXO_ETH_PRIVATE_KEY"
    stack = LocalStack(settings.state_dir)
    local_url = stack.env().get("IXO_ETH_RPC_URL")
    if local_url is not None and settings.eth_rpc_url.rstrip("/") == local_url:
        dev = anvil_dev_account(settings.state_dir)
        if dev is not None:
            return dev[1], "the local anvil's dev account"
    msg = (
        "no signing key: set IXO_ETH_PRIVATE_KEY (the local stack's anvil dev account is used"
        f" only when IXO_ETH_RPC_URL is that anvil, not {settings.eth_rpc_url})"
    )
    raise UsageError(msg)


def _roots(sources: list[str] | None) -> tuple[str, ...]:
    return tuple(sources) if sources else DEFAULT_ROOTS


def _compile(settings: Settings, roots: tuple[str, ...]) -> Build:
    out.step(f"compiling {', '.join(roots)} with solcjs (cached by source hash)")
    build = compile_contracts(build_dir(settings), roots=roots)
    how = "cache hit" if build.cached else "compiled"
    out.step(f"{how}: source hash {build.source_hash[:16]} ({build.seconds:.2f}s)")
    return build


def _chain(settings: Settings, *, signing: bool = True) -> Chain:
    from contracts import Chain  # web3 loads here, not with every `ixo` command

    if not signing:
        return Chain(settings.eth_rpc_url)
    key, origin = signing_key(settings)
    chain = Chain(settings.eth_rpc_url, key)
    out.step(
        f"chain {chain.chain_id} at {settings.eth_rpc_url}, signing as {chain.address} ({origin})"
    )
    return chain


def watch_event(record: DeploymentRecord) -> CloudEvent[ChainWatchAddedV1]:
    """The chain listener's watch of the proxy: decoded with the implementation it runs now,
    from the block the proxy was created in (a deterministic id per deploy or upgrade step)."""
    data = ChainWatchAddedV1(
        chain_id=record.chain_id,
        address=record.proxy,
        label=record.name,
        from_block=record.proxy_block_number,
        artifact=record.contract,
    )
    event_id = str(uuid.uuid5(uuid.UUID(record.event_id()), "watch"))
    return CloudEvent.new(data, source=EVENT_SOURCE, event_id=event_id)


async def _publish(settings: Settings, record: DeploymentRecord) -> None:
    event = CloudEvent.new(record.event(), source=EVENT_SOURCE, event_id=record.event_id())
    await ensure_topics(settings, [CHAIN_CONTRACTS, CHAIN_WATCHES])
    async with connected_broker(settings, "ixo-cli-contracts") as broker:
        publisher = EventPublisher(broker, settings)
        await publisher.publish(event, CHAIN_CONTRACTS)
        await publisher.publish(watch_event(record), CHAIN_WATCHES)


def publish_record(settings: Settings, record: DeploymentRecord) -> bool:
    """Publish the record's last step on `ixo.chain.contracts` (a deterministic event id, so a
    second publish of the same step is a duplicate consumers drop). A Kafka that does not answer
    is a warning: the record is on the chain and in its file; `ixo contracts publish` resends."""
    topic = CHAIN_CONTRACTS.full_name(settings.topic_prefix)
    try:
        asyncio.run(_publish(settings, record))
    except (CliError, IxoError, OSError) as exc:
        out.warn(
            f"{record.name}: not published to {topic} ({exc}); the record file is kept:"
            " `ixo contracts publish` sends it"
        )
        return False
    out.step(
        f"published {record.event().event_type} to {topic}, and the proxy's watch to"
        f" {CHAIN_WATCHES.full_name(settings.topic_prefix)}"
    )
    return True


def _record_rows(record: DeploymentRecord) -> list[list[Any]]:
    return [[field, value] for field, value in record.summary().items()]


@contracts_app.command("compile")
def compile_command(sources: SourcesOpt = None, json_: JsonOpt = False) -> None:
    """Compile the contracts (solcjs, standard JSON); a second run with the same sources is a
    cache hit."""
    settings = load_settings()
    build = _compile(settings, _roots(sources))
    ours = [c for c in build.contracts if not c.source.startswith("@")]
    if json_:
        out.emit_json(
            {
                "source_hash": build.source_hash,
                "compiler_version": build.compiler_version,
                "cached": build.cached,
                "seconds": round(build.seconds, 3),
                "build_info": str(build.build_info),
                "contracts": [
                    {
                        "name": c.name,
                        "source": c.source,
                        "bytecode_bytes": (len(c.bytecode) - 2) // 2,
                        "abi_items": len(c.abi),
                        "storage_entries": len(c.storage_layout.get("storage", [])),
                    }
                    for c in build.contracts
                ],
            }
        )
        return
    rows = [[c.name, c.source, (len(c.bytecode) - 2) // 2, len(c.abi)] for c in ours]
    out.table(
        ["contract", "source", "bytecode bytes", "abi items"],
        rows,
        right=["bytecode bytes", "abi items"],
        title=f"solc {build.compiler_version}",
    )
    out.note(f"build-info: {build.build_info}")


def deploy_contracts(
    settings: Settings,
    *,
    name: str = DEFAULT_NAME,
    contract: str = DEFAULT_NAME,
    owner: str | None = None,
    force: bool = False,
    roots: tuple[str, ...] = DEFAULT_ROOTS,
) -> tuple[DeploymentRecord, bool]:
    """Deploy `contract` behind a new proxy unless `name` is deployed on this chain already.

    Returns the record and whether this call deployed it."""
    from contracts import deploy_proxy, deployment_problem

    chain = _chain(settings)
    store = deployment_store(settings)
    existing = store.load(chain.chain_id, name)
    if existing is not None and not force:
        problem = deployment_problem(chain, existing)
        if problem is None:
            return existing, False
        out.note(f"the previous record does not match the chain ({problem}): deploying anew")
    build = _compile(settings, roots)
    record = deploy_proxy(
        chain, build, contract=contract, name=name, owner=owner, progress=out.step
    )
    path = store.save(record, build.build_info)
    out.step(f"deployment record: {path}")
    publish_record(settings, record)
    return record, True


@contracts_app.command("deploy")
def deploy_command(
    name: NameOpt = DEFAULT_NAME,
    contract: Annotated[
        str, typer.Option("--contract", help="The implementation contract to deploy.")
    ] = DEFAULT_NAME,
    owner: Annotated[
        str | None,
        typer.Option(help="Who may upgrade it (default: the signing account).", show_default=False),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Deploy a new proxy even if one is deployed.")
    ] = False,
    sources: SourcesOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Deploy an implementation behind an ERC1967 proxy (UUPS) and write the deployment record."""
    settings = load_settings()
    record, deployed = deploy_contracts(
        settings, name=name, contract=contract, owner=owner, force=force, roots=_roots(sources)
    )
    if not deployed:
        msg = (
            f"{name} is already deployed on chain {record.chain_id} at {record.proxy}:"
            " use `ixo contracts upgrade`, or --force for a new proxy"
        )
        raise CommandError(msg)
    if json_:
        out.emit_json(record.summary())
        return
    out.table(["field", "value"], _record_rows(record), title=f"{name} deployed")


@contracts_app.command("upgrade")
def upgrade_command(
    contract: Annotated[
        str, typer.Option("--contract", help="The new implementation contract.")
    ] = "AlertRegistryV2",
    name: NameOpt = DEFAULT_NAME,
    sources: SourcesOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Upgrade a deployed proxy to a new implementation, after OpenZeppelin upgrades-core checked
    the storage layout against the deployed one (an incompatible one is refused)."""
    from contracts import upgrade_proxy

    settings = load_settings()
    chain = _chain(settings)
    store = deployment_store(settings)
    record = store.load(chain.chain_id, name)
    if record is None:
        msg = f"no deployment of {name} on chain {chain.chain_id}: run `ixo contracts deploy`"
        raise CommandError(msg)
    build = _compile(settings, _roots(sources))
    deployed_info = store.build_info_path(record.chain_id, record.current.source_hash)
    if not deployed_info.is_file():
        msg = f"the build-info of the deployed {record.contract} is missing ({deployed_info})"
        raise CommandError(msg)
    out.step(f"checking {contract} against the deployed {record.contract} (upgrades-core)")
    require_compatible(build.build_info, contract, deployed_info, record.contract)
    out.step("storage layout compatible")
    upgraded = upgrade_proxy(chain, record, build, contract=contract, progress=out.step)
    path = store.save(upgraded, build.build_info)
    out.step(f"deployment record: {path}")
    publish_record(settings, upgraded)
    if json_:
        out.emit_json(upgraded.summary())
        return
    out.table(["field", "value"], _record_rows(upgraded), title=f"{name} upgraded")


@contracts_app.command("status")
def status_command(name: NameOpt = DEFAULT_NAME, json_: JsonOpt = False) -> None:
    """The deployment record and what the chain says: the implementation in the proxy's
    ERC-1967 slot, its version, and whether they match the record."""
    from contracts import deployment_problem

    settings = load_settings()
    chain = _chain(settings, signing=False)
    record = deployment_store(settings).load(chain.chain_id, name)
    if record is None:
        msg = f"no deployment of {name} on chain {chain.chain_id}: run `ixo contracts deploy`"
        raise CommandError(msg)
    problem = deployment_problem(chain, record)
    on_chain: dict[str, Any] = {"problem": problem}
    if problem is None:
        slot = chain.implementation_of(record.proxy)
        on_chain.update(
            implementation=slot,
            matches_record=slot.lower() == record.implementation.lower(),
        )
    if json_:
        out.emit_json(
            {
                **record.summary(),
                "on_chain": on_chain,
                "history": [h.model_dump(mode="json") for h in record.history],
            }
        )
        return
    rows = _record_rows(record)
    if problem is not None:
        rows.append(["on chain", out.styled(problem, "red")])
    else:
        matches = on_chain["matches_record"]
        rows.append(
            [
                "implementation slot",
                out.styled(on_chain["implementation"], "green" if matches else "red"),
            ]
        )
    out.table(["field", "value"], rows, title=f"{name} on chain {record.chain_id}")


@contracts_app.command("publish")
def publish_command(name: NameOpt = DEFAULT_NAME) -> None:
    """Publish the deployment record again (after Kafka was down during a deploy or upgrade)."""
    settings = load_settings()
    chain = _chain(settings, signing=False)
    record = deployment_store(settings).load(chain.chain_id, name)
    if record is None:
        msg = f"no deployment of {name} on chain {chain.chain_id}: run `ixo contracts deploy`"
        raise CommandError(msg)
    if not publish_record(settings, record):
        msg = f"{name}: the record was not published"
        raise CommandError(msg)


def deploy_for_up(settings: Settings) -> None:
    """What `ixo up` does with the stack's chain: deploy the AlertRegistry once (a warning, not
    a failure, when it cannot: the platform runs without the contracts)."""
    try:
        record, deployed = deploy_contracts(settings)
    except (ContractsError, UsageError) as exc:
        out.warn(f"contracts: not deployed ({exc}); the platform runs without them")
        return
    state = "deployed" if deployed else "already deployed"
    out.step(
        f"contracts: {record.name} {state} at {record.proxy} ({record.contract} {record.version})"
    )
    if not deployed:
        publish_record(settings, record)  # idempotent: the compacted topic keeps the latest
