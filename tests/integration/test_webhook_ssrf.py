"""Webhooks that cannot be abused, on the real stack: URLs refused at creation and at delivery
(redirects included, with a generic outcome), secrets never on a topic or in Redis in plain
text, and alerts reaching only their owner's subscriptions (and an operator's ``all_users``)."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI, Request
from redis.asyncio import Redis

from consumers.notifier import RedisDirectory
from consumers.notifier.app import GROUP_SUBSCRIPTIONS, build_app, key_prefix
from infra.kafka import EventPublisher
from infra.mongo import open_database
from infra.net import Address, OutboundGuard, TargetNotAllowed, guarded_client, parse_networks
from infra.secrets import secret_box
from infra.settings import Settings
from infra.stack.standins import LocalServer
from readmodels import ReadModels
from schemas import (
    NOTIFY_SUBSCRIPTIONS,
    InvalidEvent,
    NotificationDeliveredV1,
    NotificationFailedV1,
)
from services import SubscriptionDraft, SubscriptionService
from tests._kafka import eventually, group_caught_up, read_topic, running
from tests.fakes import WebhookReceiver
from tests.integration._notify import FAST, alert_event, outcome_count, outcomes, rule_event

ALERTS = ("ixo.alert.triggered.v1",)


async def service(settings: Settings, publisher: EventPublisher) -> SubscriptionService:
    return SubscriptionService(
        publisher,
        ReadModels(await open_database(settings)),
        source="/tests",
        secrets=secret_box(settings),
        guard=OutboundGuard.from_settings(settings),
    )


def draft(url: str, owner: str = "alice", **more: object) -> SubscriptionDraft:
    return SubscriptionDraft.model_validate(
        {"owner": owner, "url": url, "event_types": ALERTS, **more}
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",  # Redis's port on this machine
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0:8080/",
        "http://localhost:8080/hook",  # a name that resolves to loopback
    ],
)
async def test_internal_targets_are_refused_at_creation(
    settings: Settings, publisher: EventPublisher, url: str
) -> None:
    strict = settings.model_copy(update={"webhook_allowed_networks": ""})
    subs = await service(strict, publisher)
    with pytest.raises(InvalidEvent) as refused:
        await subs.create(draft(url))
    assert refused.value.field == "url"
    assert "not allowed" in str(refused.value)
    assert await read_topic(strict, NOTIFY_SUBSCRIPTIONS) == []


async def test_every_users_events_need_an_operator(
    settings: Settings, publisher: EventPublisher, receiver: WebhookReceiver
) -> None:
    subs = await service(settings, publisher)
    with pytest.raises(InvalidEvent) as refused:
        await subs.create(draft(receiver.url("ops"), owner="ops", all_users=True))
    assert refused.value.field == "all_users"
    assert await read_topic(settings, NOTIFY_SUBSCRIPTIONS) == []
    made = await subs.create(draft(receiver.url("ops"), owner="ops", all_users=True), operator=True)
    assert made.event.data.all_users is True


async def test_secrets_stay_encrypted_and_alerts_reach_only_their_owners(
    settings: Settings, publisher: EventPublisher, receiver: WebhookReceiver, redis: Redis
) -> None:
    subs = await service(settings, publisher)
    made = {
        "alice": await subs.create(draft(receiver.url("alice"))),
        "bob": await subs.create(draft(receiver.url("bob"), owner="bob")),
        "ops": await subs.create(
            draft(receiver.url("ops"), owner="ops", all_users=True), operator=True
        ),
    }
    for path, receipt in made.items():
        assert receipt.secret is not None
        receiver.secrets[path] = receipt.secret

    # Not one record of the subscriptions topic holds a secret in plain text.
    records = await read_topic(settings, NOTIFY_SUBSCRIPTIONS)
    assert len(records) == 3
    for record in records:
        raw = (record.key or b"") + (record.value or b"")
        raw += b"".join(k.encode() + v for k, v in record.headers)
        for receipt in made.values():
            assert receipt.secret is not None
            assert receipt.secret.encode() not in raw

    async with running(build_app(settings, FAST)):
        directory = RedisDirectory(redis, key_prefix(settings))

        async def known() -> bool:
            return len(await directory.subscriptions_for(set(ALERTS))) == 3

        await eventually(known)
        alice, bob = alert_event(rule_event([])), alert_event(rule_event([], user_id="bob"))
        await publisher.publish(alice)
        await publisher.publish(bob)
        await outcome_count(settings, 4)

    got = {(r.path, r.event_id) for r in receiver.received}
    assert got == {("alice", alice.id), ("ops", alice.id), ("bob", bob.id), ("ops", bob.id)}
    assert all(r.valid for r in receiver.received)  # each signed with its own plain secret
    assert all(isinstance(e.data, NotificationDeliveredV1) for e in await outcomes(settings))

    # Nor does the notifier's working state in Redis.
    async for key in redis.scan_iter(match=f"{key_prefix(settings)}*"):
        kind = await redis.type(key)
        values: list[bytes | str] = []
        if kind == b"hash":
            values = list((await redis.hgetall(key)).values())
        elif kind == b"string":
            values = [await redis.get(key) or b""]
        for value in values:
            raw = value if isinstance(value, bytes) else value.encode()
            for receipt in made.values():
                assert receipt.secret is not None
                assert receipt.secret.encode() not in raw, key


async def test_a_redirect_to_an_internal_address_fails_generically(
    settings: Settings, publisher: EventPublisher, receiver: WebhookReceiver
) -> None:
    subs = await service(settings, publisher)
    targets = {
        "private": "http://10.0.0.1/",
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "v6": f"http://[::ffff:10.0.0.1]:{receiver.port}/x",
    }
    for path, target in targets.items():
        receipt = await subs.create(draft(receiver.url(path)))
        assert receipt.secret is not None
        receiver.secrets[path] = receipt.secret
        receiver.respond(path, 302, location=target)
    async with running(build_app(settings, FAST)):

        async def folded() -> bool:
            return await group_caught_up(settings, NOTIFY_SUBSCRIPTIONS, GROUP_SUBSCRIPTIONS)

        await eventually(folded)  # the subscriptions are routable before the alert arrives
        await publisher.publish(alert_event(rule_event([])))
        found = await outcome_count(settings, len(targets))
    assert len(found) == len(targets)
    for event in found:
        assert isinstance(event.data, NotificationFailedV1)
        assert event.data.error == "webhook target not allowed"
        assert event.data.attempts == 1
    assert sorted(r.path for r in receiver.received) == sorted(targets)  # first hops only


class FixedDNS:
    """Names to addresses, as a resolver that changed its mind would answer."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    async def __call__(self, host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address(self.table[host])]


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    app = FastAPI()

    @app.post("/")
    async def hook(request: Request) -> dict[str, str]:
        return {"host": request.headers.get("host", "")}

    async with LocalServer(app, name="echo") as server:
        yield server.port


async def test_connections_open_only_to_the_checked_address(echo: int) -> None:
    dns = FixedDNS({"hook.test": "127.0.0.1", "rebound.test": "127.0.0.1"})
    # The name is connected to the address the guard checked, the Host header kept.
    allowed = OutboundGuard(parse_networks("127.0.0.0/8"), resolver=dns)
    async with guarded_client(allowed, timeout_s=5) as client:
        answer = await client.post(f"http://hook.test:{echo}/")
    assert answer.json() == {"host": f"hook.test:{echo}"}
    # A name that passed an earlier check but now resolves to loopback is never connected to.
    strict = OutboundGuard(resolver=dns)
    async with guarded_client(strict, timeout_s=5) as client:
        with pytest.raises(TargetNotAllowed) as refused:
            await client.post(f"http://rebound.test:{echo}/")
        with pytest.raises(TargetNotAllowed):
            await client.post(f"http://127.0.0.1:{echo}/")
    assert "loopback" in refused.value.detail


async def test_proxy_variables_do_not_bypass_the_guard(
    echo: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{echo}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{echo}")
    async with guarded_client(OutboundGuard(), timeout_s=5) as client:
        with pytest.raises(TargetNotAllowed):
            await client.post(f"http://10.255.255.1:{echo}/")
