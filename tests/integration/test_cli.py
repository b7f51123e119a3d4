"""The operator's `ixo` command against the real stack, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from infra.settings import Settings
from schemas import MARKET_TICKS
from tests._cli import aixo, ixo
from tests._kafka import read_topic

TICK = {"symbol": "BTCUSDT", "price": "64123.5", "venue": "cli", "ts": "2026-11-24T10:00:00Z"}


async def test_publish_validates_and_writes_the_event(
    settings: Settings, settings_env: dict[str, str], topics: None
) -> None:
    done = await aixo(
        settings_env,
        "publish",
        "ixo.market.ticks",
        "--type",
        "ixo.market.tick.v1",
        "--data",
        json.dumps(TICK),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    receipt = json.loads(done.stdout)
    records = await read_topic(settings, MARKET_TICKS)
    assert len(records) == 1
    event = json.loads(records[0].value)
    assert event["id"] == receipt["id"]
    assert event["data"]["price"] == "64123.5"
    assert records[0].key == b"BTCUSDT"


async def test_publish_refuses_bad_input_with_the_field_and_writes_nothing(
    settings: Settings, settings_env: dict[str, str], topics: None
) -> None:
    cases = [
        (
            ["--type", "ixo.market.tick.v1", "--data", json.dumps({**TICK, "price": "-1"})],
            "data.price",
        ),
        (
            ["--type", "ixo.market.tick.v1", "--data", json.dumps({**TICK, "price": 64123.5})],
            "data.price",
        ),
        (
            ["--type", "ixo.market.tick.v1", "--data", json.dumps({**TICK, "price": "1e-2000000"})],
            "data.price",
        ),
        (["--type", "ixo.market.tick.v1", "--data", "{not json"], "JSON"),
        (["--type", "ixo.market.candle.v1", "--data", json.dumps(TICK)], "unknown event type"),
        (["--type", "ixo.alert.rule.deleted.v1", "--data", "{}"], "ixo.alerts.rules"),
    ]
    for args, needle in cases:
        done = await aixo(settings_env, "publish", "ixo.market.ticks", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert needle in lines[0]
    unknown_topic = await aixo(
        settings_env,
        "publish",
        "ixo.nope",
        "--type",
        "ixo.market.tick.v1",
        "--data",
        json.dumps(TICK),
    )
    assert unknown_topic.returncode == 2
    assert await read_topic(settings, MARKET_TICKS) == []


async def test_tail_where_filters_on_envelope_and_data_fields(
    settings: Settings, settings_env: dict[str, str], topics: None
) -> None:
    prices = {"BTCUSDT": ["64000", "71000.5"], "ETHUSDT": ["3000", "3500"]}
    for symbol, values in prices.items():
        for price in values:
            done = await aixo(
                settings_env,
                "publish",
                "ixo.market.ticks",
                "--type",
                "ixo.market.tick.v1",
                "--data",
                json.dumps({**TICK, "symbol": symbol, "price": price}),
            )
            assert done.returncode == 0, done.stderr
    done = await aixo(
        settings_env,
        "tail",
        "ixo.market.ticks",
        "--from-beginning",
        "--json",
        "--where",
        "data.symbol == 'BTCUSDT' and dec(data.price) > 70000",
    )
    assert done.returncode == 0, done.stderr
    got = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [(e["data"]["symbol"], Decimal(e["data"]["price"])) for e in got] == [
        ("BTCUSDT", Decimal("71000.5"))
    ]
    done = await aixo(
        settings_env,
        "tail",
        "ixo.market.ticks",
        "--from-beginning",
        "--json",
        "--where",
        "type == 'ixo.market.tick.v1' and subject != 'BTCUSDT'",
        "--limit",
        "1",
    )
    got = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(got) == 1
    assert got[0]["subject"] == "ETHUSDT"
    bad = await aixo(
        settings_env, "tail", "ixo.market.ticks", "--from-beginning", "--where", "data.symbol =="
    )
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1


def test_schemas_export_writes_one_schema_per_type(
    settings_env: dict[str, str], tmp_path: Path
) -> None:
    done = ixo(settings_env, "schemas", "export", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "ixo.market.tick.v1.json" in files
    assert "catalogue.json" in files


async def test_rules_add_list_rm_through_events_and_the_projection(
    settings: Settings, settings_env: dict[str, str], topics: None
) -> None:
    from consumers.projector.app import build_app
    from schemas import ALERT_RULES
    from tests._kafka import eventually, wait_assigned

    bad = await aixo(settings_env, "rules", "add", "BTCUSDT", "pct_change", "5", "--user", "u1")
    assert bad.returncode == 2
    assert "window_s is required" in bad.stderr
    bad = await aixo(settings_env, "rules", "add", "BTC$USD", "above", "5", "--user", "u1")
    assert bad.returncode == 2
    assert "symbol" in bad.stderr
    assert await read_topic(settings, ALERT_RULES) == []

    done = await aixo(
        settings_env,
        "rules",
        "add",
        "--user",
        "u1",
        "--cooldown",
        "30",
        "--channel",
        "telegram:42",
        "--json",
        "ethusdt",
        "crosses_above",
        "3500.25",
    )
    assert done.returncode == 0, done.stderr
    rule_id = json.loads(done.stdout)["rule_id"]
    app = build_app(settings)
    await app.start()
    try:
        assert app.broker is not None
        await wait_assigned(app.broker)  # type: ignore[arg-type]

        async def listed() -> list[dict[str, object]]:
            found = await aixo(settings_env, "rules", "list", "--user", "u1", "--json")
            assert found.returncode == 0, found.stderr
            rows: list[dict[str, object]] = json.loads(found.stdout)
            return rows

        rows = await eventually(listed)
        assert [(r["rule_id"], r["symbol"], r["cooldown_s"]) for r in rows] == [
            (rule_id, "ETHUSDT", 30)
        ]
        assert rows[0]["condition"] == {
            "kind": "crosses_above",
            "threshold": "3500.25",
            "window_s": None,
        }
        assert rows[0]["channels"] == [{"kind": "telegram", "target": "42"}]
        other = await aixo(settings_env, "rules", "rm", rule_id, "--user", "someone-else")
        assert other.returncode == 1
        assert (await aixo(settings_env, "rules", "rm", rule_id)).returncode == 0

        async def emptied() -> bool:
            return await listed() == []

        await eventually(emptied)
    finally:
        await app.stop()
