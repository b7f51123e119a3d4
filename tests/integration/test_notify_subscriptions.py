"""Webhook subscriptions end to end: the gateway routes publish them, the projection lists them
(never with secrets), the notifier delivers signed events to them and stops after a delete."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
from fastapi import FastAPI
from faststream import FastStream
from redis.asyncio import Redis

from consumers.notifier import RedisDirectory, verify
from consumers.notifier.app import build_app, key_prefix
from consumers.projector import ProjectionStore, SubscriptionsProjection
from infra.kafka import Delivery, EventPublisher, make_broker, subscribe
from infra.mongo import open_database
from infra.settings import Settings
from infra.stack.standins import LocalServer
from producers.gateway import create_app
from readmodels import READ_MODELS
from schemas import NOTIFY_SUBSCRIPTIONS, NotificationDeliveredV1
from tests._kafka import eventually, read_topic, running
from tests.fakes import WebhookReceiver
from tests.integration._notify import FAST, alert_event, outcome_count, outcomes, rule_event
from tests.integration.conftest import UserToken, bearer


def gateway_app(settings: Settings) -> FastAPI:
    """The gateway (its subscription routes are the ones under test)."""
    return create_app(settings)


def projector_app(settings: Settings) -> FastStream:
    """The projector's wiring, for the subscriptions projection only."""
    broker = make_broker(settings, client_id="ixo-test-projector")
    holder: dict[str, ProjectionStore] = {}

    async def handle(batch: Sequence[Delivery]) -> None:
        await holder["store"].apply(SubscriptionsProjection(), batch, topic=batch[0].topic)

    subscribe(broker, settings, NOTIFY_SUBSCRIPTIONS, group="ixo.projector.subs", handler=handle)
    app = FastStream(broker)

    @app.on_startup
    async def _connect() -> None:
        holder["store"] = ProjectionStore(await open_database(settings, documents=READ_MODELS))

    return app


async def test_subscriptions_are_created_listed_delivered_and_deleted(
    notify_settings: Settings,
    publisher: EventPublisher,
    receiver: WebhookReceiver,
    redis: Redis,
    user_token: UserToken,
) -> None:
    settings = notify_settings
    alice_token, bob = await user_token("alice"), bearer(await user_token("bob"))
    async with (
        LocalServer(gateway_app(settings), lifespan="on", name="gateway") as gateway,
        httpx.AsyncClient(base_url=gateway.url, timeout=30, headers=bearer(alice_token)) as http,
        running(projector_app(settings)),
        running(build_app(settings, FAST)),
    ):
        # Bad bodies: 422 naming the field, nothing published.
        bad: list[tuple[dict[str, Any], str]] = [
            (
                {"url": receiver.url("a"), "event_types": ["ixo.x.v1"]},
                "event_types",
            ),
            (
                {"url": "not a url", "event_types": ["ixo.alert.triggered.v1"]},
                "url",
            ),
            ({"url": receiver.url("a"), "event_types": []}, "event_types"),
            (
                {
                    "url": "http://169.254.169.254/latest/meta-data/",
                    "event_types": ["ixo.alert.triggered.v1"],
                },
                "url",
            ),
            (
                {
                    "url": receiver.url("a"),
                    "event_types": ["ixo.alert.triggered.v1"],
                    "secret": "short",
                },
                "secret",
            ),
            (
                {
                    "owner": "alice",  # the owner comes from the token, never the body
                    "url": receiver.url("a"),
                    "event_types": ["ixo.alert.triggered.v1"],
                },
                "owner",
            ),
        ]
        for body, field in bad:
            response = await http.post("/v1/subscriptions", json=body)
            assert response.status_code == 422, (body, response.text)
            assert response.json()["detail"][0]["loc"][:2] == ["body", field], response.text
        every_user = {
            "url": receiver.url("a"),
            "event_types": ["ixo.alert.triggered.v1"],
            "all_users": True,
        }
        refused = await http.post("/v1/subscriptions", json=every_user)
        assert refused.status_code == 403, refused.text  # operators only
        assert await read_topic(settings, NOTIFY_SUBSCRIPTIONS) == []

        # Create two: one with a generated secret, one with the caller's.
        made = await http.post(
            "/v1/subscriptions",
            json={
                "url": receiver.url("a"),
                "event_types": ["ixo.alert.triggered.v1"],
            },
        )
        assert made.status_code == 202, made.text
        first = made.json()
        assert first["secret"].startswith("ixosec_")
        assert first["topic"] == NOTIFY_SUBSCRIPTIONS.full_name(settings.topic_prefix)
        own_secret = "my-own-secret-0123456789"
        made = await http.post(
            "/v1/subscriptions",
            json={
                "url": receiver.url("b"),
                "event_types": ["ixo.alert.triggered.v1"],
                "secret": own_secret,
            },
        )
        assert made.status_code == 202, made.text
        second = made.json()
        assert second["secret"] == own_secret
        receiver.secrets["a"], receiver.secrets["b"] = first["secret"], own_secret

        async def listed() -> list[dict[str, Any]] | None:
            found = (await http.get("/v1/subscriptions")).json()
            return found if len(found) == 2 else None

        views = await eventually(listed)
        assert {v["subscription_id"] for v in views} == {
            first["subscription_id"],
            second["subscription_id"],
        }
        assert "secret" not in json.dumps(views)
        assert (await http.get("/v1/subscriptions", headers=bob)).json() == []
        theirs = await http.delete(f"/v1/subscriptions/{first['subscription_id']}", headers=bob)
        assert theirs.status_code == 404

        directory = RedisDirectory(redis, key_prefix(settings))

        async def known(n: int) -> bool:
            return len(await directory.subscriptions_for({"ixo.alert.triggered.v1"})) == n

        await eventually(lambda: known(2))

        # Alice's alert reaches both of her hooks, signed; Bob's reaches neither.
        alice = rule_event([])  # no channels of its own: only the subscriptions deliver
        alert = alert_event(alice)
        await publisher.publish(alert_event(rule_event([], user_id="bob")))
        await publisher.publish(alert)
        await outcome_count(settings, 2)
        assert sorted(r.path for r in receiver.received) == ["a", "b"]
        assert all(r.valid and r.event_id == alert.id for r in receiver.received)
        delivered = await outcomes(settings)
        assert {e.data.channel.target for e in delivered} == {receiver.url("a"), receiver.url("b")}
        assert all(isinstance(e.data, NotificationDeliveredV1) for e in delivered)
        assert {e.data.match_id for e in delivered} == {alert.data.match_id}

        # A tampered body (or a wrong secret) does not verify: the receiver refuses it.
        got = receiver.received[0]
        tampered = got.body.replace(b"70100.5", b"1.5")
        assert verify(receiver.secrets[got.path], got.body, got.signature)
        assert not verify(receiver.secrets[got.path], tampered, got.signature)
        async with httpx.AsyncClient() as outsider:
            forged = await outsider.post(
                receiver.url(got.path),
                content=tampered,
                headers={"x-ixo-signature": got.signature, "x-ixo-event-id": got.event_id},
            )
        assert forged.status_code == 401

        # Delete one: 202, then it is gone from the list and gets nothing more.
        gone = await http.delete(f"/v1/subscriptions/{first['subscription_id']}")
        assert gone.status_code == 202, gone.text
        assert (await http.delete("/v1/subscriptions/nope")).status_code == 404
        await eventually(lambda: known(1))

        async def one_left() -> bool:
            found = (await http.get("/v1/subscriptions")).json()
            return [v["subscription_id"] for v in found] == [second["subscription_id"]]

        await eventually(one_left)
        later = alert_event(alice)
        await publisher.publish(later)
        await outcome_count(settings, 3)
    assert [r.path for r in receiver.received if r.event_id == later.id] == ["b"]
    assert len(await outcomes(settings)) == 3
