"""``GET /v1/chain/logs``: the ``chain_logs`` projection (logs of the contracts the chain
listener watches), newest block first.

Logs are public chain data: any authenticated caller may read them. A log a reorg retracted
stays in the projection marked ``removed`` and is left out unless ``include_removed=true``. Bad
parameters get 422 naming the parameter (``loc``: ``["query", "<name>"]``); a read model that
does not answer gets 503.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from producers.gateway._deps import ServicesDep
from producers.gateway._openapi import documented
from schemas import InvalidEvent
from services import MAX_BLOCK, MAX_CHAIN_LOGS, ChainLogService, chain_log_view

TAG = "chain"


class ChainLogOut(BaseModel):
    """One observed log."""

    model_config = ConfigDict(frozen=True)

    chain_id: int
    address: str = Field(description="the contract (lower-case)")
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    event: str = Field(description="the decoded event's name (its topic when undecoded)")
    args: dict[str, Any] = Field(
        default_factory=dict, description="decoded arguments; wide integers as decimal strings"
    )
    decoded: bool = True
    removed: bool = Field(default=False, description="a reorg retracted it")
    block_time: datetime | None = None


class ChainLogsPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    count: int
    logs: list[ChainLogOut]


def chain_router() -> APIRouter:
    """The route, over the app's services (the app maps TransientError to 503)."""
    router = APIRouter(prefix="/v1/chain", tags=[TAG])

    @router.get("/logs", response_model=ChainLogsPage, responses=documented(422, 503))
    async def logs(
        *,
        svc: ServicesDep,
        address: Annotated[
            str | None,
            Query(pattern=r"^0x[0-9a-fA-F]{40}$", description="only this contract's logs"),
        ] = None,
        event: Annotated[
            str | None,
            Query(
                min_length=1, max_length=200, description="only this event, e.g. AlertRegistered"
            ),
        ] = None,
        since_block: Annotated[
            int | None,
            Query(ge=0, le=MAX_BLOCK, description="only logs in this block or later"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_CHAIN_LOGS)] = 100,
        include_removed: Annotated[
            bool, Query(description="also the logs a reorg retracted (marked `removed`)")
        ] = False,
    ) -> dict[str, Any]:
        """Observed contract logs, newest block first (then by log index)."""
        try:
            found = await ChainLogService(svc.reads).logs(
                {
                    "address": address,
                    "event": event,
                    "since_block": since_block,
                    "limit": limit,
                    "include_removed": include_removed,
                }
            )
        except InvalidEvent as exc:
            name = (exc.field or "address").split(".", 1)[0]
            raise RequestValidationError(
                [{"loc": ("query", name), "msg": str(exc), "type": "value_error"}]
            ) from None
        return {"count": len(found), "logs": [chain_log_view(log) for log in found]}

    return router
