"""``/v1/subscriptions``: register, list and delete signed-webhook subscriptions.

A creation is on Kafka (acks=all) before 202, which returns the subscription id and its secret
(shown this once; ``GET`` never returns secrets). Reads come from the ``subscriptions``
projection, so a new subscription is listed once the projector has applied it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from infra.kafka import EventPublisher
from producers.subscriptions import (
    SubscriptionDraft,
    SubscriptionNotFound,
    SubscriptionService,
    subscription_view,
)

TAG = "subscriptions"


def subscriptions_router(
    publisher: EventPublisher, *, source: str = "/producers/gateway"
) -> APIRouter:
    """The routes, publishing through ``publisher`` (the gateway's: its broker connects in the
    app's lifespan). Needs Beanie initialised with the projector's ``Subscription`` document
    (it is in ``READ_MODELS``) and the app's handlers for KafkaError/TransientError (503)."""
    service = SubscriptionService(publisher, source=source)
    router = APIRouter(prefix="/v1/subscriptions", tags=[TAG])

    @router.post("", status_code=202)
    async def create_subscription(draft: SubscriptionDraft) -> dict[str, Any]:
        """Subscribe ``url`` to ``event_types``; events are POSTed as CloudEvents, signed with
        ``X-Ixo-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``. The
        secret is generated when not given, and returned only in this response."""
        receipt = await service.create(draft)
        return receipt.as_dict()

    @router.get("")
    async def list_subscriptions(
        owner: Annotated[str, Query(min_length=1)],
    ) -> list[dict[str, Any]]:
        """The owner's live subscriptions (never their secrets)."""
        return [subscription_view(s) for s in await service.list(owner)]

    @router.delete("/{subscription_id}", status_code=202)
    async def delete_subscription(subscription_id: str, owner: str | None = None) -> dict[str, Any]:
        try:
            receipt = await service.delete(subscription_id, owner=owner)
        except SubscriptionNotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        return receipt.as_dict()

    return router
