"""The ``ixo`` command refuses bad usage and invalid input with one line and exit 2, before it
connects to anything (Kafka points at a closed port here: a connection attempt would exit 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import COMPONENTS, Component, app
from infra.settings import get_settings

TICK = '{"symbol":"BTCUSDT","price":"64123.5","venue":"binance","ts":"2024-05-01T12:00:00Z"}'


@pytest.fixture(autouse=True)
def _no_services(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("IXO_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("IXO_MONGODB_URL", "mongodb://127.0.0.1:1/")
    monkeypatch.setenv("IXO_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("IXO_TOPIC_PREFIX", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def ixo(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_one_error_line(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_version() -> None:
    code, out, _ = ixo("--version")
    assert code == 0
    assert out.startswith("ixo ")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            [
                "ixo.market.ticks",
                "--type",
                "ixo.market.tick.v1",
                "--data",
                TICK.replace("64123.5", "-1"),
            ],
            ["data.price: Input should be greater than 0"],
        ),
        (
            ["ixo.market.ticks", "--type", "ixo.market.tick.v1", "--data", "{not json"],
            ["--data is not valid JSON"],
        ),
        (
            [
                "ixo.market.ticks",
                "--type",
                "ixo.market.tick.v1",
                "--data",
                TICK.replace('"64123.5"', "64123.5"),
            ],
            ["data.price", "decimal string"],
        ),
        (
            ["ixo.market.ticks", "--type", "ixo.alert.triggered.v1", "--data", TICK],
            ["does not belong on ixo.market.ticks"],
        ),
        (
            ["ixo.market.ticks", "--type", "ixo.nope.v1", "--data", TICK],
            ["unknown event type 'ixo.nope.v1'"],
        ),
        (
            ["ixo.nope", "--type", "ixo.market.tick.v1", "--data", TICK],
            ["unknown topic 'ixo.nope'"],
        ),
        (
            ["ixo.market.ticks.dlq", "--type", "ixo.market.tick.v1", "--data", TICK],
            ["does not belong on ixo.market.ticks.dlq"],
        ),
        (
            ["ixo.market.ticks", "--type", "ixo.market.tick.v1", "--data", TICK, "--source", ""],
            ["source"],
        ),
        (["ixo.market.ticks", "--data", TICK], ["Missing option '--type'"]),
    ],
)
def test_publish_refuses_invalid_input_without_connecting(
    args: list[str], fragments: list[str]
) -> None:
    code, out, err = ixo("publish", *args)
    assert code == 2, err
    assert out == ""
    assert_one_error_line(err, *fragments)


def test_publish_reads_data_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "tick.json"
    path.write_text(TICK.replace("64123.5", "0"))
    code, _, err = ixo(
        "publish", "ixo.market.ticks", "--type", "ixo.market.tick.v1", "--data", f"@{path}"
    )
    assert code == 2
    assert_one_error_line(err, "data.price")


def test_publish_of_a_valid_event_tries_kafka_and_fails_with_one_line() -> None:
    code, _, err = ixo(
        "publish", "ixo.market.ticks", "--type", "ixo.market.tick.v1", "--data", TICK
    )
    assert code == 1
    assert_one_error_line(err, "cannot reach Kafka at 127.0.0.1:1")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["tail", "ixo.nope"], "unknown topic"),
        (["tail", "ixo.market.ticks", "--where", "data.symbol =="], "invalid --where expression"),
        (["tail", "ixo.market.ticks", "--where", "nope == 1"], "unknown name 'nope'"),
        (["tail", "ixo.market.ticks", "--from-beginning", "--since", "1h"], "exclude each other"),
        (["tail", "ixo.market.ticks", "--since", "yesterday"], "--since 'yesterday'"),
        (["tail", "ixo.market.ticks", "--limit", "0"], "--limit"),
        (["tail"], "Missing argument 'TOPIC'"),
        (["run", "nope"], "unknown component 'nope'"),
        (
            ["replay", "nope"],
            "unknown projection 'nope' (known: prices, rules, alerts, conversations, deliveries",
        ),
        (["replay", "prices", "--from-beginning", "--since", "1h"], "exclude each other"),
        (["dlq", "show", "ixo.nope"], "unknown topic"),
        (["nope"], "No such command 'nope'"),
        (["topics", "--nope"], "No such option: --nope"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    code, _, err = ixo(*args)
    assert code == 2, err
    assert_one_error_line(err, fragment)


@pytest.fixture
def reserved(monkeypatch: pytest.MonkeyPatch) -> str:
    """A component whose name is reserved but that has no runner (every design component runs
    now, so the test reserves one)."""
    monkeypatch.setitem(COMPONENTS, "discord-bot", Component("discord-bot", "reserved"))
    return "discord-bot"


def test_unimplemented_components_list_the_available_ones(reserved: str) -> None:
    code, _, err = ixo("run", reserved)
    assert code == 2
    assert_one_error_line(err, f"component '{reserved}' is not available yet in this version")
    names = ", ".join(c.name for c in COMPONENTS.values() if c.available)
    assert "projector" in names
    assert f"(available: {names})" in err


def test_run_help_offers_only_the_components_that_run() -> None:
    code, out, _ = ixo("run", "--help")
    assert code == 0
    text = " ".join(out.split())
    for component in COMPONENTS.values():
        assert (component.name in text) is component.available, component.name


def test_an_unknown_component_lists_only_the_available_ones(reserved: str) -> None:
    _, _, err = ixo("run", "nope")
    assert reserved not in err
    assert "(available: gateway, projector" in err


def test_the_ready_line_names_the_gateway_and_its_docs() -> None:
    from cli._cmd_run import gateway_url, ready_line
    from infra.settings import Settings

    url = gateway_url(Settings(gateway_host="0.0.0.0", gateway_port=8123))
    assert url == "http://127.0.0.1:8123"
    assert ready_line(["gateway", "projector"], url) == (
        "ready: gateway http://127.0.0.1:8123, API docs http://127.0.0.1:8123/docs"
        " (2 components running; Ctrl-C stops them)"
    )
    assert ready_line(["projector"], None) == "ready (1 component running; Ctrl-C stops them)"


def test_every_design_component_is_known() -> None:
    assert set(COMPONENTS) == {
        "gateway",
        "projector",
        "rule-engine",
        "orchestrator",
        "notifier",
        "scheduler",
        "embedder",
        "chain-listener",
        "chain-rules",
        "market-feed",
        "x-source",
        "telegram-bot",
        "discord-bot",
    }


def test_unreachable_kafka_is_one_line_and_exit_1() -> None:
    code, _, err = ixo("topics")
    assert code == 1
    assert_one_error_line(err, "cannot reach Kafka at 127.0.0.1:1")


def test_invalid_settings_are_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IXO_GATEWAY_PORT", "not-a-port")
    get_settings.cache_clear()
    code, _, err = ixo("topics")
    assert code == 2
    assert_one_error_line(err, "IXO_GATEWAY_PORT")


def test_schemas_export_writes_files(tmp_path: Path) -> None:
    code, out, _ = ixo("schemas", "export", str(tmp_path / "out"), "--json")
    assert code == 0
    written = json.loads(out)
    assert len(written["files"]) == len(list((tmp_path / "out").iterdir()))
    assert (tmp_path / "out" / "catalogue.json").exists()


def test_stack_status_of_a_stack_never_started() -> None:
    code, out, _ = ixo("stack", "status", "--json")
    assert code == 0
    assert {s["name"] for s in json.loads(out)} >= {"ferretdb", "redis"}
    assert {s["kind"] for s in json.loads(out)} == {"service"}  # `ixo up` recorded nothing
    assert not any(s["running"] for s in json.loads(out))


def test_stack_env_is_shell_evaluable() -> None:
    code, out, _ = ixo("stack", "env")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines
    assert all(line.startswith("export IXO_") for line in lines)


def test_public_api() -> None:
    import cli

    assert sorted(cli.__all__) == ["COMPONENTS", "Component", "app", "main"]
