"""``ixo contracts deploy`` publishes the proxy's watch, the listener decodes the AlertRegistry's
events with the compiled artifact, and ``ixo chain watch|watches|unwatch`` manage watches (bad
input refused with one line and exit 2, before anything is published)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from contracts import Build, compile_contracts
from infra.settings import Settings
from infra.stack import RunningAnvil
from tests._cli import ixo
from tests._kafka import eventually
from tests.integration._chain_listener import (
    EMITTER_ROOTS,
    Published,
    listener_settings,
    listening,
    published,
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory, anvil: RunningAnvil) -> Path:
    return tmp_path_factory.mktemp("build-info")


@pytest.fixture(scope="module")
def build(cache: Path) -> Build:
    return compile_contracts(cache)


@pytest.fixture(scope="module")
def emitter_abi(cache: Path) -> list[dict[str, Any]]:
    return list(compile_contracts(cache, roots=EMITTER_ROOTS).artifact("LogEmitter").abi)


def ok_json(env: dict[str, str], *args: str) -> Any:
    done = ixo(env, *args, "--json", timeout=240)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def one_error(done: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert fragment in lines[0]


async def _alert_registered(settings: Settings, address: str) -> list[Published] | None:
    found = [p for p in await published(settings, address) if p.data.event == "AlertRegistered"]
    return found or None


async def test_a_deployed_proxy_is_watched_and_its_events_decoded_with_the_artifact(
    settings: Settings, cli_env: dict[str, str], anvil: RunningAnvil, build: Build, topics: None
) -> None:
    deployed = await asyncio.to_thread(ok_json, cli_env, "contracts", "deploy")
    proxy = deployed["proxy"]
    watches = await asyncio.to_thread(ok_json, cli_env, "chain", "watches")
    (watch,) = watches
    assert watch["address"] == proxy
    assert watch["abi"] == "artifact AlertRegistry"
    assert watch["from_block"] <= deployed["block_number"]
    assert watch["label"] == "AlertRegistry"

    w3 = Web3(Web3.HTTPProvider(anvil.url))
    alice = Account.from_key(anvil.account(1)[1].get_secret_value())
    registry = w3.eth.contract(address=proxy, abi=build.artifact("AlertRegistry").abi)
    tx = registry.functions.registerAlert("BTCUSDT", 0, 64_123_50000000).build_transaction(
        {"from": alice.address, "nonce": w3.eth.get_transaction_count(alice.address)}
    )
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(alice.sign_transaction(tx).raw_transaction)
    )
    tuned = listener_settings(settings, anvil.url)
    async with listening(tuned):
        (found,) = await eventually(lambda: _alert_registered(settings, proxy), timeout=120)
        await eventually(lambda: _progressed(cli_env), timeout=30)
    assert found.data.args == {
        "id": "1",
        "owner": alice.address,
        "symbol": "BTCUSDT",
        "kind": 0,
        "threshold": "6412350000000",
        "decimals": 8,
    }
    assert found.data.address == proxy

    # Unwatched: gone from the list; unwatching again says it is not watched.
    done = await asyncio.to_thread(ixo, cli_env, "chain", "unwatch", proxy)
    assert done.returncode == 0, done.stderr
    assert await asyncio.to_thread(ok_json, cli_env, "chain", "watches") == []
    again = await asyncio.to_thread(ixo, cli_env, "chain", "unwatch", proxy)
    one_error(again, 1, "is not watched")


async def _progressed(env: dict[str, str]) -> bool:
    rows = await asyncio.to_thread(ok_json, env, "chain", "watches")
    return bool(rows) and rows[0]["next_block"] is not None


def test_watch_with_an_abi_file_and_bad_input(
    cli_env: dict[str, str], emitter_abi: list[dict[str, Any]], tmp_path: Path, topics: None
) -> None:
    address = "0x" + "ab" * 20
    artifact = tmp_path / "Emitter.json"
    artifact.write_text(json.dumps({"abi": emitter_abi}))
    added = ok_json(cli_env, "chain", "watch", address, "--abi", str(artifact), "--from-block", "7")
    assert added["events"] == ["Ping", "Raw"]
    assert added["address"] == Web3.to_checksum_address(address)
    assert added["chain_id"] == 31337
    (row,) = ok_json(cli_env, "chain", "watches")
    assert row["from_block"] == 7
    assert row["abi"] == "abi"

    not_json = tmp_path / "bad.json"
    not_json.write_text("{nope")
    one_error(ixo(cli_env, "chain", "watch", address, "--abi", str(not_json)), 2, "not JSON")
    one_error(
        ixo(cli_env, "chain", "watch", address, "--artifact", "Nope", timeout=240),
        2,
        "no contract 'Nope'",
    )
    one_error(ixo(cli_env, "chain", "watch", "0x1234"), 2, "not a contract address")
    one_error(
        ixo(cli_env, "chain", "watch", address, "--abi", str(artifact), "--artifact", "X"),
        2,
        "exclude each other",
    )
    # Nothing of that was published: still the one watch.
    assert len(ok_json(cli_env, "chain", "watches")) == 1
