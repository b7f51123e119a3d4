"""The identity core on the real stack: users, passwords, API tokens, sessions, link codes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from consumers.projector.app import build_app
from infra.kafka import EventPublisher
from infra.mongo import mongo_client, open_database
from infra.settings import Settings
from schemas import USER_LINKS, USERS, InvalidEvent, UserLinkedV1
from services import IdentityService, Services, TooManyAttempts, UnknownUser
from tests._kafka import events_on, eventually, running

PASSWORD = "correct horse battery"


@pytest.fixture
async def identity(
    settings: Settings, publisher: EventPublisher, redis: Redis
) -> AsyncIterator[IdentityService]:
    client = mongo_client(settings)
    try:
        database = await open_database(settings, client)
        yield Services.build(publisher, database, settings, source="/tests", redis=redis).identity
    finally:
        await client.drop_database(settings.mongodb_database)
        await client.close()


def link(platform_user_id: str = "4242") -> UserLinkedV1:
    return UserLinkedV1(
        link_id=f"telegram:{platform_user_id}",
        platform="telegram",
        platform_user_id=platform_user_id,
        chat_id=platform_user_id,
        user_id="ignored",
    )


async def test_users_are_events_and_credentials_are_not(
    settings: Settings, identity: IdentityService
) -> None:
    receipt = await identity.create_user("alice", "Alice")
    assert receipt.as_dict()["user_id"] == "alice"
    with pytest.raises(InvalidEvent) as twice:
        await identity.create_user("alice")
    assert twice.value.field == "user_id"
    # A token can be made at once (the account is written before the event is projected).
    made = await identity.create_token("alice", ("user",), "laptop")
    assert made.token.startswith("ixo_")
    await identity.set_password("alice", PASSWORD)
    with pytest.raises(UnknownUser):
        await identity.create_token("nobody")

    async with running(build_app(settings, ["users"])):

        async def projected() -> bool:
            return await identity.user("alice") is not None

        await eventually(projected)
    found = await identity.user("alice")
    assert found is not None
    assert found.display_name == "Alice"
    events = await events_on(settings, USERS)
    assert [e["type"] for e in events] == ["ixo.user.created.v1"]
    raw = str(events)
    assert made.token not in raw
    assert PASSWORD not in raw
    assert "argon2" not in raw


async def test_tokens_are_shown_once_checked_by_hash_and_revocable(
    identity: IdentityService,
) -> None:
    await identity.create_user("ops")
    made = await identity.create_token("ops", ("operator", "user"), "cli")
    principal = await identity.authenticate(made.token)
    assert principal is not None
    assert (principal.user_id, principal.is_operator, principal.token_id) == (
        "ops",
        True,
        made.info.token_id,
    )
    assert await identity.authenticate(made.token + "x") is None
    assert await identity.authenticate("Bearer nonsense") is None
    listed = await identity.tokens("ops")
    assert [t.token_id for t in listed] == [made.info.token_id]
    assert made.token not in str([t.as_dict() for t in listed])
    with pytest.raises(InvalidEvent) as bad:
        await identity.create_token("ops", ("admin",))
    assert bad.value.field == "scopes"

    revoked = await identity.revoke_token(made.info.token_id, user_id="ops")
    assert revoked.revoked_at is not None
    assert await identity.authenticate(made.token) is None
    # A deleted user's other tokens stop working too.
    other = await identity.create_token("ops")
    assert await identity.authenticate(other.token) is not None
    await identity.delete_user("ops")
    assert await identity.authenticate(other.token) is None


async def test_passwords_and_sessions(identity: IdentityService) -> None:
    await identity.create_user("bob")
    with pytest.raises(InvalidEvent) as short:
        await identity.set_password("bob", "short")
    assert short.value.field == "password"
    await identity.set_password("bob", PASSWORD)
    principal = await identity.login("bob", PASSWORD)
    assert principal is not None
    assert principal.scopes == frozenset({"user"})
    session = await identity.start_session(principal)
    again = await identity.session(session.session_id)
    assert again is not None
    assert (again.principal.user_id, again.csrf_token) == ("bob", session.csrf_token)
    assert await identity.session(session.session_id + "x") is None
    await identity.end_session(session.session_id)
    assert await identity.session(session.session_id) is None


async def test_failed_sign_ins_are_limited(identity: IdentityService) -> None:
    await identity.create_user("carol")
    await identity.set_password("carol", PASSWORD)
    for _ in range(5):
        assert await identity.login("carol", "wrong password!") is None
    with pytest.raises(TooManyAttempts) as limited:
        await identity.login("carol", PASSWORD)  # even the right one, until the window ends
    assert 0 < limited.value.retry_after_s <= 900
    assert await identity.login("nobody", PASSWORD) is None


async def test_link_codes_work_once(
    settings: Settings, identity: IdentityService, redis: Redis
) -> None:
    await identity.create_user("dave")
    code = await identity.issue_link_code("dave")
    assert len(code.code) == 8
    receipt = await identity.redeem_link_code(code.code.lower(), link(), event_id=None)
    assert receipt is not None
    assert receipt.event.data.user_id == "dave"  # the code's user, not the one asked for
    assert await identity.redeem_link_code(code.code, link("5151")) is None  # used
    forged = "ABCDEFGH" if code.code != "ABCDEFGH" else "HGFEDCBA"
    assert await identity.redeem_link_code(forged, link("5151")) is None

    expiring = await identity.issue_link_code("dave")
    keys = [k async for k in redis.scan_iter(match=f"*code:{expiring.code}")]
    assert len(keys) == 1
    await redis.pexpire(keys[0], 1)

    async def gone() -> bool:
        return not await redis.exists(keys[0])

    await eventually(gone)
    assert await identity.redeem_link_code(expiring.code, link("6161")) is None
    linked = await events_on(settings, USER_LINKS)
    assert [(e["data"]["link_id"], e["data"]["user_id"]) for e in linked] == [
        ("telegram:4242", "dave")
    ]


async def test_wrong_codes_from_one_account_are_limited(identity: IdentityService) -> None:
    await identity.create_user("erin")
    for _ in range(5):
        assert await identity.redeem_link_code("ZZZZZZZZ", link("7777")) is None
    code = await identity.issue_link_code("erin")
    with pytest.raises(TooManyAttempts):
        await identity.redeem_link_code(code.code, link("7777"))
    assert await identity.redeem_link_code(code.code, link("8888")) is not None
