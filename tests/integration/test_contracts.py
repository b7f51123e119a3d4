"""The contracts slice against a real anvil (started here on a free port) and the real pinned
toolchain (solcjs, OpenZeppelin upgrades-core): compile with its cache, deploy behind the
proxy, register alerts, refuse an incompatible upgrade, upgrade to V2 keeping the state, status;
the signing key never shows in the CLI's output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError

from contracts import DEFAULT_ROOTS, Build, ContractsProject, compile_contracts
from infra.stack import RunningAnvil, start_anvil
from tests._cli import ixo

FIXTURE_ROOTS = (*DEFAULT_ROOTS, "fixtures")

# The anvil fixture first: starting it installs the contracts' npm packages (npm ci) when a
# fresh clone has none, which every test here needs.
pytestmark = pytest.mark.usefixtures("anvil")


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The sources compiled once for the module (with the fixtures too, a second build in the
    same cache)."""
    cache = tmp_path_factory.mktemp("build-info")
    compile_contracts(cache, roots=FIXTURE_ROOTS)
    return compile_contracts(cache)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return ixo(env, "contracts", *args, timeout=240)


def ok_json(env: dict[str, str], *args: str) -> Any:
    done = run(env, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def transact(w3: Web3, key: str, call: Any) -> Any:
    """Sign and send one contract call from `key`'s account; its receipt."""
    account = Account.from_key(key)
    tx = call.build_transaction(
        {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address)}
    )
    signed = account.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction)
    )
    assert receipt["status"] == 1
    return receipt


def registry(w3: Web3, build: Build, contract: str, address: str) -> Contract:
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=build.artifact(contract).abi
    )


def implementation_slot(w3: Web3, proxy: str) -> str:
    raw = w3.eth.get_storage_at(
        Web3.to_checksum_address(proxy),
        0x360894A13BA1A3210667C828492DB98DCA3E2076CC3735A920A3CA505D382BBC,
    )
    return str(Web3.to_checksum_address(bytes(raw)[-20:]))


def test_compile_produces_artifacts_and_the_second_run_is_a_cache_hit(tmp_path: Path) -> None:
    first = compile_contracts(tmp_path)
    assert not first.cached
    registry_v1 = first.artifact("AlertRegistry")
    assert registry_v1.compiler_version.startswith(ContractsProject().solc_version() + "+")
    assert registry_v1.deployable
    assert registry_v1.source == "src/AlertRegistry.sol"
    names = {item.get("name") for item in registry_v1.abi}
    assert {
        "registerAlert",
        "cancelAlert",
        "subscribe",
        "AlertRegistered",
        "upgradeToAndCall",
    } <= names
    assert registry_v1.storage_layout.get("storage") == []  # all state in the ERC-7201 namespace
    assert first.artifact("ERC1967Proxy").deployable
    assert first.build_info == tmp_path / f"{first.source_hash}.json"
    written = first.build_info.stat().st_mtime_ns

    second = compile_contracts(tmp_path)
    assert second.cached
    assert second.source_hash == first.source_hash
    assert second.artifact("AlertRegistry") == registry_v1
    assert second.build_info.stat().st_mtime_ns == written  # solc did not run again
    assert sorted(tmp_path.iterdir()) == [first.build_info]

    with_fixture = compile_contracts(tmp_path, roots=FIXTURE_ROOTS)
    assert not with_fixture.cached
    assert with_fixture.source_hash != first.source_hash


def test_cli_compile_reports_the_cache(cli_env: dict[str, str], tmp_path: Path) -> None:
    fresh = {**cli_env, "IXO_STATE_DIR": str(tmp_path / "fresh")}
    first = ok_json(fresh, "compile")
    second = ok_json(fresh, "compile")
    assert (first["cached"], second["cached"]) == (False, True)
    assert first["source_hash"] == second["source_hash"]
    assert {"AlertRegistry", "AlertRegistryV2", "ERC1967Proxy"} <= {
        c["name"] for c in second["contracts"]
    }


def test_deploy_register_refuse_bad_upgrade_upgrade_and_status(
    anvil: RunningAnvil, build: Build, cli_env: dict[str, str]
) -> None:
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    key = cli_env["IXO_ETH_PRIVATE_KEY"]
    outputs: list[subprocess.CompletedProcess[str]] = []

    deployed = run(cli_env, "deploy", "--json")
    outputs.append(deployed)
    assert deployed.returncode == 0, deployed.stderr
    record = json.loads(deployed.stdout)
    proxy = record["proxy"]
    assert record["chain_id"] == w3.eth.chain_id
    assert record["contract"] == "AlertRegistry"
    assert record["version"] == "1.0.0"
    assert Web3.to_checksum_address(record["owner"]) == Web3.to_checksum_address(
        anvil.account(0)[0]
    )
    assert implementation_slot(w3, proxy) == record["implementation"]
    saved = Path(cli_env["IXO_STATE_DIR"]) / "contracts" / "deployments" / str(w3.eth.chain_id)
    assert json.loads((saved / "AlertRegistry.json").read_text())["proxy"] == proxy

    again = run(cli_env, "deploy")
    outputs.append(again)
    assert again.returncode == 1
    assert f"already deployed on chain {w3.eth.chain_id} at {proxy}" in again.stderr

    # Wallets register, cancel and subscribe through the proxy.
    v1 = registry(w3, build, "AlertRegistry", proxy)
    alice, bob = anvil.account(1), anvil.account(2)
    alice_key, bob_key = alice[1].get_secret_value(), bob[1].get_secret_value()
    receipt = transact(w3, alice_key, v1.functions.registerAlert("BTCUSDT", 0, 64_123_50000000))
    (registered,) = v1.events.AlertRegistered().process_receipt(receipt)
    assert registered["args"]["id"] == 1
    assert registered["args"]["owner"] == Web3.to_checksum_address(alice[0])
    assert (registered["args"]["symbol"], registered["args"]["threshold"]) == (
        "BTCUSDT",
        64_123_50000000,
    )
    assert registered["args"]["decimals"] == 8
    transact(w3, bob_key, v1.functions.registerAlert("ETHUSDT", 1, 2_000_00000000))
    transact(w3, alice_key, v1.functions.registerAlert("SOLUSDT", 2, 150_00000000))
    cancelled = transact(w3, alice_key, v1.functions.cancelAlert(3))
    assert v1.events.AlertCancelled().process_receipt(cancelled)[0]["args"]["id"] == 3
    subscribed = transact(w3, bob_key, v1.functions.subscribe("telegram:4242"))
    assert (
        v1.events.Subscribed().process_receipt(subscribed)[0]["args"]["channel"] == "telegram:4242"
    )
    with pytest.raises(ContractCustomError):  # NotAlertOwner: bob cannot cancel alice's alert
        v1.functions.cancelAlert(1).call({"from": Web3.to_checksum_address(bob[0])})
    with pytest.raises(ContractCustomError):  # InvalidSymbol
        v1.functions.registerAlert("btc-usd", 0, 1).call({"from": Web3.to_checksum_address(bob[0])})

    # An incompatible implementation is refused with one line, and nothing changes on chain.
    refused = run(
        cli_env, "upgrade", "--contract", "AlertRegistryV2Reordered",
        "--sources", "src", "--sources", "fixtures",
    )  # fmt: skip
    outputs.append(refused)
    assert refused.returncode == 1
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, refused.stderr
    assert errors[0].startswith(
        "error: refused: AlertRegistryV2Reordered is not a safe upgrade of AlertRegistry"
    )
    assert "Deleted `nextId`" in errors[0]
    assert implementation_slot(w3, proxy) == record["implementation"]

    # V2 goes behind the same address and reads version 1's state.
    upgraded_run = run(cli_env, "upgrade", "--json")
    outputs.append(upgraded_run)
    assert upgraded_run.returncode == 0, upgraded_run.stderr
    upgraded = json.loads(upgraded_run.stdout)
    assert upgraded["proxy"] == proxy
    assert (upgraded["contract"], upgraded["version"], upgraded["upgrades"]) == (
        "AlertRegistryV2",
        "2.0.0",
        1,
    )
    assert upgraded["implementation"] != record["implementation"]
    v2 = registry(w3, build, "AlertRegistryV2", proxy)
    assert v2.functions.version().call() == "2.0.0"
    assert v2.functions.alertCount().call() == 3
    first = v2.functions.getAlert(1).call()
    assert (first[0], first[1], first[2], first[4], first[5]) == (
        Web3.to_checksum_address(alice[0]), 0, True, 64_123_50000000, "BTCUSDT",
    )  # fmt: skip
    assert v2.functions.getAlert(3).call()[2] is False  # still cancelled
    assert v2.functions.activeAlertsOf(Web3.to_checksum_address(alice[0])).call() == 1
    assert v2.functions.channelOf(Web3.to_checksum_address(bob[0])).call() == "telegram:4242"
    changed = transact(w3, alice_key, v2.functions.updateThreshold(1, 70_000_00000000))
    assert (
        v2.events.AlertUpdated().process_receipt(changed)[0]["args"]["threshold"] == 70_000_00000000
    )
    assert v2.functions.getAlert(1).call()[4] == 70_000_00000000
    registered_after = transact(w3, bob_key, v2.functions.registerAlert("BTCUSDT", 1, 1))
    assert v2.events.AlertRegistered().process_receipt(registered_after)[0]["args"]["id"] == 4

    # The record went to ixo.chain.contracts too: deployed, then upgraded (not the refusal).
    tailed = ixo(
        cli_env, "tail", "ixo.chain.contracts", "--from-beginning", "--limit", "2", "--json"
    )
    assert tailed.returncode == 0, tailed.stderr
    events = [json.loads(line) for line in tailed.stdout.splitlines()]
    assert [e["type"] for e in events] == [
        "ixo.chain.contract.deployed.v1",
        "ixo.chain.contract.upgraded.v1",
    ]
    assert {e["subject"] for e in events} == {proxy}
    assert events[0]["data"]["implementation"] == record["implementation"]
    assert events[1]["data"]["implementation"] == upgraded["implementation"]
    assert events[1]["data"]["previous_implementation"] == record["implementation"]
    assert events[1]["data"]["contract"] == "AlertRegistryV2"
    # Publishing the same step again reuses its event id (consumers drop the duplicate).
    republished = run(cli_env, "publish")
    assert republished.returncode == 0, republished.stderr
    tailed = ixo(
        cli_env, "tail", "ixo.chain.contracts", "--from-beginning", "--limit", "3", "--json"
    )
    assert [json.loads(line)["id"] for line in tailed.stdout.splitlines()][1:] == [
        events[1]["id"]
    ] * 2

    status_run = run(cli_env, "status", "--json")
    outputs.append(status_run)
    assert status_run.returncode == 0, status_run.stderr
    status = json.loads(status_run.stdout)
    assert status["implementation"] == upgraded["implementation"]
    assert status["on_chain"] == {
        "problem": None,
        "implementation": upgraded["implementation"],
        "matches_record": True,
    }
    assert [h["contract"] for h in status["history"]] == ["AlertRegistry", "AlertRegistryV2"]
    table = run(cli_env, "status")
    outputs.append(table)
    assert table.returncode == 0
    assert upgraded["implementation"] in table.stdout

    # The key is never printed, not even with the libraries' debug logs.
    outputs.append(run(cli_env, "status"))
    outputs.append(ixo(cli_env, "-v", "contracts", "deploy", "--force", timeout=240))
    assert outputs[-1].returncode == 0, outputs[-1].stderr
    secret = key.removeprefix("0x").lower()
    for done in outputs:
        for text in (done.stdout, done.stderr):
            assert secret not in text.lower()


def test_only_the_owner_may_upgrade(
    anvil: RunningAnvil, build: Build, cli_env: dict[str, str]
) -> None:
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    other = anvil.account(3)[0]
    record = ok_json(cli_env, "deploy", "--owner", other)
    refused = run(cli_env, "upgrade")
    assert refused.returncode == 1
    assert "is not the owner" in refused.stderr
    assert "only the owner may upgrade it" in refused.stderr
    assert implementation_slot(w3, record["proxy"]) == record["implementation"]
    # On chain too: upgradeToAndCall from a non-owner reverts (OwnableUnauthorizedAccount).
    v1 = registry(w3, build, "AlertRegistry", record["proxy"])
    with pytest.raises(ContractCustomError):
        v1.functions.upgradeToAndCall(record["implementation"], b"").call(
            {"from": Web3.to_checksum_address(anvil.account(0)[0])}
        )


def test_errors_are_one_line(anvil: RunningAnvil, cli_env: dict[str, str]) -> None:
    no_record = run(cli_env, "status")
    assert no_record.returncode == 1
    assert (
        no_record.stderr.strip()
        .splitlines()[-1]
        .startswith("error: no deployment of AlertRegistry")
    )
    bad_key = run({**cli_env, "IXO_ETH_PRIVATE_KEY": "0x1234"}, "deploy")
    assert bad_key.returncode == 1
    assert "IXO_ETH_PRIVATE_KEY is not a private key" in bad_key.stderr
    assert "1234" not in bad_key.stderr
    unreachable = run({**cli_env, "IXO_ETH_RPC_URL": "http://127.0.0.1:9"}, "status")
    assert unreachable.returncode == 1
    assert "cannot reach the chain at http://127.0.0.1:9" in unreachable.stderr


def test_anvil_keeps_its_chain_across_a_restart(tmp_path: Path, build: Build) -> None:
    first = start_anvil(tmp_path)
    try:
        w3 = Web3(Web3.HTTPProvider(first.url))
        account, key = first.account(0)
        artifact = build.artifact("AlertRegistry")
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = transact(w3, key.get_secret_value(), factory.constructor())
        address = receipt["contractAddress"]
        block = (receipt["blockNumber"], receipt["blockHash"])
        log = first.service.log_path.read_text()
    finally:
        first.stop()
    assert (tmp_path / "anvil" / "state.json").is_file()
    assert key.get_secret_value().removeprefix("0x") not in log  # anvil runs --quiet
    second = start_anvil(tmp_path)
    try:
        w3 = Web3(Web3.HTTPProvider(second.url))
        assert len(w3.eth.get_code(address)) > 0
        assert w3.eth.get_transaction_count(Web3.to_checksum_address(account)) == 1
        assert w3.eth.get_block(block[0])["hash"] == block[1]  # records stay valid
    finally:
        second.stop()


def test_with_kafka_down_the_record_is_kept_and_published_later(cli_env: dict[str, str]) -> None:
    down = {**cli_env, "IXO_KAFKA_BOOTSTRAP": "127.0.0.1:9"}
    deployed = run(down, "deploy", "--json")
    assert deployed.returncode == 0, deployed.stderr
    proxy = json.loads(deployed.stdout)["proxy"]
    assert "not published to" in deployed.stderr
    assert "`ixo contracts publish` sends it" in deployed.stderr
    again = run(cli_env, "publish")
    assert again.returncode == 0, again.stderr
    tailed = ixo(
        cli_env, "tail", "ixo.chain.contracts", "--from-beginning", "--limit", "1", "--json"
    )
    (event,) = [json.loads(line) for line in tailed.stdout.splitlines()]
    assert (event["type"], event["subject"]) == ("ixo.chain.contract.deployed.v1", proxy)
