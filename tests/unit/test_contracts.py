"""The contracts package without a chain: import resolution, the ERC-7201 slot, refusal
messages, deployment records, key handling, and anvil's command line."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_abi import encode
from eth_hash.auto import keccak
from pydantic import SecretStr

import contracts
from contracts import (
    Chain,
    ContractsError,
    ContractsProject,
    DeploymentRecord,
    DeploymentStore,
    ImplementationRecord,
    UpgradeReport,
)
from contracts._compile import collect_sources, resolve_import, solidity_imports
from infra.stack import AnvilService, StackPorts
from infra.stack._base import Context

SOURCES = Path(contracts.__file__).parent


def test_public_api_is_explicit() -> None:
    for name in contracts.__all__:
        assert hasattr(contracts, name), name


def test_imports_are_found_in_every_form_and_comments_are_ignored() -> None:
    text = """
    import "./A.sol";
    import {B, C as D} from "../lib/B.sol";
    import * as E from '@openzeppelin/contracts/E.sol';
    import "F.sol" as F;
    // import "commented.sol";
    /* import "block.sol"; */
    """
    assert solidity_imports(text) == [
        "./A.sol",
        "../lib/B.sol",
        "@openzeppelin/contracts/E.sol",
        "F.sol",
    ]


def test_relative_imports_resolve_against_the_importer_and_cannot_escape() -> None:
    unit = "@openzeppelin/contracts-upgradeable/access/OwnableUpgradeable.sol"
    assert (
        resolve_import(unit, "../utils/ContextUpgradeable.sol")
        == "@openzeppelin/contracts-upgradeable/utils/ContextUpgradeable.sol"
    )
    assert resolve_import("fixtures/X.sol", "../src/I.sol") == "src/I.sol"
    with pytest.raises(ContractsError, match="outside the contracts directory"):
        resolve_import("src/A.sol", "../../etc/passwd")


def test_sources_include_openzeppelin_transitively() -> None:
    sources = collect_sources(ContractsProject(), ("src",))
    assert "src/AlertRegistry.sol" in sources
    assert "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol" in sources
    assert "@openzeppelin/contracts/proxy/ERC1967/ERC1967Utils.sol" in sources  # imported by it
    assert not any(unit.startswith("fixtures/") for unit in sources)


def test_the_storage_slot_constant_is_the_erc7201_location_of_the_namespace() -> None:
    for path in (
        SOURCES / "src" / "AlertRegistry.sol",
        SOURCES / "src" / "AlertRegistryV2.sol",
        SOURCES / "fixtures" / "AlertRegistryV2Reordered.sol",
    ):
        text = path.read_text()
        namespace = re.search(r"erc7201:([\w.]+)", text)
        constant = re.search(r"STORAGE_LOCATION =\s*(0x[0-9a-f]{64})", text)
        assert namespace is not None
        assert constant is not None
        inner = int.from_bytes(keccak(namespace.group(1).encode()), "big") - 1
        slot = int.from_bytes(keccak(encode(["uint256"], [inner])), "big") & ~0xFF
        assert constant.group(1) == f"0x{slot:064x}", path


def test_a_refusal_names_the_first_problems_on_one_line() -> None:
    report = UpgradeReport(
        ok=False,
        report=(
            " ✘  fixtures/X.sol:X (upgrades from previous:src/A.sol:A)\n\n"
            "      A: Deleted `nextId`\n        > Keep the variable even if unused\n      \n"
            "      fixtures/X.sol:18: Inserted `nextId`\n        > New variables should be placed"
            " after all existing inherited variables\n\nFAILED"
        ),
    )
    assert report.first_problem == "A: Deleted `nextId`; fixtures/X.sol:18: Inserted `nextId`"


def _record(name: str = "AlertRegistry") -> DeploymentRecord:
    step = ImplementationRecord(
        contract="AlertRegistry",
        version="1.0.0",
        implementation="0x" + "11" * 20,
        source_hash="ab" * 32,
        compiler_version="0.8.37",
        tx_hash="0x" + "22" * 32,
        block_number=2,
        block_hash="0x" + "33" * 32,
        at=datetime.now(UTC),
    )
    return DeploymentRecord(
        name=name,
        chain_id=31337,
        proxy="0x" + "44" * 20,
        owner="0x" + "55" * 20,
        deployer="0x" + "55" * 20,
        proxy_tx_hash=step.tx_hash,
        proxy_block_number=2,
        proxy_block_hash=step.block_hash,
        history=(step,),
    )


def test_records_round_trip_and_keep_the_deployed_build_info(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path / "deployments")
    build_info = tmp_path / "b.json"
    build_info.write_text("{}")
    record = _record()
    path = store.save(record, build_info)
    assert path == tmp_path / "deployments" / "31337" / "AlertRegistry.json"
    assert store.load(31337, "AlertRegistry") == record
    assert store.load(1, "AlertRegistry") is None
    assert store.build_info_path(31337, "ab" * 32).read_text() == "{}"
    assert store.records() == [record]
    with pytest.raises(ContractsError, match="invalid deployment name"):
        store.path(31337, "../../etc")
    path.write_text('{"name": 1}')
    with pytest.raises(ContractsError, match="is damaged"):
        store.load(31337, "AlertRegistry")


def test_a_bad_key_is_refused_without_quoting_it() -> None:
    key = "0x" + "ab" * 31  # one byte short
    with pytest.raises(ContractsError) as err:
        Chain("http://127.0.0.1:9", SecretStr(key))
    assert "ab" * 31 not in str(err.value)
    with pytest.raises(ContractsError, match="no signing key"):
        Chain("http://127.0.0.1:9", SecretStr("")).address  # noqa: B018
    assert "ab" * 31 not in repr(Chain("http://127.0.0.1:9", SecretStr("0x" + "ab" * 32)).__dict__)


def test_anvil_command_line(tmp_path: Path) -> None:
    ports = StackPorts.free()
    assert len(set(ports.as_dict().values())) == len(ports.as_dict())
    assert StackPorts.from_dict({"kafka": 1}).anvil == 8545
    ctx = Context(tmp_path, tmp_path / "cache", ports, None)
    argv, _, cwd = AnvilService(ctx).command()
    assert argv[1:5] == ["--host", "127.0.0.1", "--port", str(ports.anvil)]
    assert "--quiet" in argv
    assert "--block-time" not in argv  # 0: automine
    assert cwd == tmp_path / "anvil"
    argv, _, _ = AnvilService(ctx, block_time_s=0.5).command()
    assert argv[argv.index("--block-time") + 1] == "0.5"
    assert "anvil --host" in " ".join(argv)  # the marker that finds our process again
