"""``ixo users`` / ``ixo tokens`` and the first operator token, on the real stack."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

from redis.asyncio import Redis

from cli._cmd_users import ensure_operator_token
from infra.kafka import EventPublisher
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from schemas import USERS
from services import Services
from tests._cli import aixo
from tests._kafka import events_on


def ixo_stdin(env: dict[str, str], stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_users_and_tokens_from_the_cli(
    settings: Settings, settings_env: dict[str, str], publisher: EventPublisher, redis: Redis
) -> None:
    made = ixo_stdin(
        settings_env, "a long enough password\n", "users", "create", "alice", "--password-stdin"
    )
    assert made.returncode == 0, made.stderr
    assert "a long enough password" not in made.stdout + made.stderr
    again = await aixo(settings_env, "users", "create", "alice")
    assert again.returncode == 2
    assert again.stderr.startswith("error: ")
    assert len(again.stderr.strip().splitlines()) == 1

    created = await aixo(
        settings_env, "tokens", "create", "--user", "alice", "--name", "ci", "--json"
    )
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)
    assert token["token"].startswith("ixo_")
    assert token["scopes"] == ["user"]
    listed = await aixo(settings_env, "tokens", "list", "--user", "alice", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [t["token_id"] for t in json.loads(listed.stdout)] == [token["token_id"]]
    assert token["token"] not in listed.stdout

    unknown = await aixo(settings_env, "tokens", "create", "--user", "nobody")
    assert unknown.returncode == 1
    assert "no user nobody" in unknown.stderr
    bad_scope = await aixo(settings_env, "tokens", "create", "--user", "alice", "--scope", "root")
    assert bad_scope.returncode == 2

    client = mongo_client(settings)
    try:
        database = await open_database(settings, client)
        identity = Services.build(
            publisher, database, settings, source="/tests", redis=redis
        ).identity
        principal = await identity.authenticate(token["token"])
        assert principal is not None
        assert principal.user_id == "alice"
        assert await identity.login("alice", "a long enough password") is not None
    finally:
        await client.close()
    revoked = await aixo(settings_env, "tokens", "revoke", token["token_id"])
    assert revoked.returncode == 0, revoked.stderr
    assert [e["data"]["user_id"] for e in await events_on(settings, USERS)] == ["alice"]


async def test_the_first_start_makes_one_operator_token(
    settings: Settings, publisher: EventPublisher, topics: None
) -> None:
    path, token = await ensure_operator_token(settings)
    assert token is not None
    assert path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, none = await ensure_operator_token(settings)
    assert (again, none) == (path, None)
    client = mongo_client(settings)
    try:
        database = await open_database(settings, client)
        identity = Services.build(publisher, database, settings, source="/tests").identity
        principal = await identity.authenticate(token)
        assert principal is not None
        assert (principal.user_id, principal.is_operator) == ("operator", True)
    finally:
        await client.drop_database(settings.mongodb_database)
        await client.close()
