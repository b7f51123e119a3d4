"""API tokens and users: ``/v1/tokens`` and ``/v1/users``.

A user makes, lists and revokes their own ``user``-scope tokens; only an operator makes a token
for someone else or with the ``operator`` scope, lists everyone's, revokes anyone's, and creates
users. A token's value is in the 201 answer only (stored hashed); another user's token answers
404.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from producers.gateway._auth import OperatorDep, PrincipalDep
from producers.gateway._deps import ServicesDep
from producers.gateway._openapi import BODY, documented
from schemas import Id
from services import Principal

TAG = "identity"


class TokenRequest(BaseModel):
    """A token for you (or, for an operator, for ``user_id``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scopes: tuple[Literal["user", "operator"], ...] = Field(default=("user",), min_length=1)
    name: str = Field(default="", max_length=100)
    user_id: Id | None = None


class UserRequest(BaseModel):
    """A new user; with ``password``, they can sign in to the web app."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: Id
    display_name: str = Field(default="", max_length=100)
    password: SecretStr | None = Field(default=None, min_length=10, max_length=256)


def _needs_operator(principal: Principal, what: str) -> None:
    if not principal.is_operator:
        raise HTTPException(status_code=403, detail=f"{what} needs the operator scope")


def tokens_router() -> APIRouter:
    router = APIRouter(tags=[TAG])

    @router.post("/v1/tokens", status_code=201, responses=documented(404, *BODY, 503))
    async def create_token(
        body: TokenRequest, svc: ServicesDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """A new API token; its value (``token``) is shown in this answer only."""
        user_id = body.user_id or principal.user_id
        if user_id != principal.user_id:
            _needs_operator(principal, "a token for another user")
        if "operator" in body.scopes:
            _needs_operator(principal, "an operator token")
        made = await svc.identity.create_token(user_id, body.scopes, body.name)
        return {"token": made.token, **made.info.as_dict()}

    @router.get("/v1/tokens", responses=documented(422, 503))
    async def list_tokens(
        svc: ServicesDep,
        principal: PrincipalDep,
        user_id: Id | None = Query(default=None, description="operators: one user's tokens"),  # noqa: B008
    ) -> list[dict[str, Any]]:
        """Your tokens (an operator: everyone's, or ``user_id``'s); never their values."""
        if principal.is_operator:
            found = await svc.identity.tokens(user_id)
        else:
            if user_id is not None and user_id != principal.user_id:
                _needs_operator(principal, "another user's tokens")
            found = await svc.identity.tokens(principal.user_id)
        return [t.as_dict() for t in found]

    @router.delete("/v1/tokens/{token_id}", responses=documented(404, 422, 503))
    async def revoke_token(
        token_id: str, svc: ServicesDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        """Revoke one of your tokens (an operator: anyone's); it stops working within 5 s."""
        owner = None if principal.is_operator else principal.user_id
        return (await svc.identity.revoke_token(token_id, user_id=owner)).as_dict()

    @router.post("/v1/users", status_code=201, responses=documented(409, *BODY, 503))
    async def create_user(
        body: UserRequest, svc: ServicesDep, _operator: OperatorDep
    ) -> dict[str, Any]:
        """Create a user (operators); with ``password``, they can sign in."""
        if await svc.identity.exists(body.user_id):
            raise HTTPException(status_code=409, detail=f"user {body.user_id} exists")
        receipt = await svc.identity.create_user(body.user_id, body.display_name)
        if body.password is not None:
            await svc.identity.set_password(body.user_id, body.password.get_secret_value())
        return receipt.as_dict()

    return router
