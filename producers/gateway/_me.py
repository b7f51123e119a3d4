"""Signing in and the caller's own account: ``/v1/auth/login``, ``/v1/auth/logout``,
``/v1/me`` and ``/v1/me/link-codes``.

Signing in with a password starts a browser session (decision 0112): the ``ixo_session`` cookie
(HttpOnly, SameSite=Lax, Secure unless ``IXO_GATEWAY_COOKIE_SECURE=false``) identifies it and
the ``ixo_csrf`` cookie (readable by the web app) holds the token a write sends back in the
``X-CSRF-Token`` header. A wrong password and an unknown user get the same 401; too many
failures of one user get 429 with ``Retry-After``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from infra.settings import Settings
from producers.gateway._auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CallerDep,
    PrincipalDep,
    unauthenticated,
)
from producers.gateway._deps import ServicesDep
from producers.gateway._openapi import BODY, documented
from schemas import Id
from services import SESSION_TTL_S, Session, TooManyAttempts

TAG = "identity"
MAX_PASSWORD = 256


class Login(BaseModel):
    """A user id and their password (set with ``ixo users passwd``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: Id
    password: SecretStr = Field(min_length=1, max_length=MAX_PASSWORD)


class SignedIn(BaseModel):
    """The signed-in user and the CSRF token (also in the ``ixo_csrf`` cookie)."""

    user_id: str
    csrf_token: str


class Identity(BaseModel):
    """A chat account linked to the user."""

    platform: str
    platform_user_id: str
    chat_id: str


class Me(BaseModel):
    user_id: str
    display_name: str
    scopes: list[str]
    via: str
    identities: list[Identity]


class NewLinkCode(BaseModel):
    """Type ``/start CODE`` (Telegram) or ``/link CODE`` (Discord) before ``expires_at``."""

    code: str
    expires_at: datetime


def _set_session_cookies(response: Response, session: Session, settings: Settings) -> None:
    common: dict[str, Any] = {
        "max_age": SESSION_TTL_S,
        "path": "/",
        "secure": settings.gateway_cookie_secure,
        "samesite": "lax",
    }
    response.set_cookie(SESSION_COOKIE, session.session_id, httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, session.csrf_token, httponly=False, **common)


def _clear_session_cookies(response: Response, settings: Settings) -> None:
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(
            name,
            path="/",
            secure=settings.gateway_cookie_secure,
            httponly=http_only,
            samesite="lax",
        )


def me_router() -> APIRouter:
    router = APIRouter(tags=[TAG])

    @router.post("/v1/auth/login", responses=documented(401, *BODY, 503, public=True))
    async def login(
        body: Login, request: Request, response: Response, svc: ServicesDep
    ) -> SignedIn:
        """Sign in with a password: sets the session cookies (see ``X-CSRF-Token``)."""
        try:
            principal = await svc.identity.login(body.user_id, body.password.get_secret_value())
        except TooManyAttempts as exc:
            retry = str(exc.retry_after_s)
            raise HTTPException(
                status_code=429,
                detail=f"too many failed sign-ins: retry in {retry} s",
                headers={"Retry-After": retry},
            ) from None
        if principal is None:
            msg = "wrong user id or password"
            raise unauthenticated(msg)
        session = await svc.identity.start_session(principal)
        _set_session_cookies(response, session, request.app.state.settings)
        return SignedIn(user_id=principal.user_id, csrf_token=session.csrf_token)

    @router.post("/v1/auth/logout", status_code=204, responses=documented(503))
    async def logout(
        request: Request, response: Response, svc: ServicesDep, caller: CallerDep
    ) -> None:
        """End the web session (its cookies are cleared); with a token, nothing to end."""
        if caller.session is not None:
            await svc.identity.end_session(caller.session.session_id)
        _clear_session_cookies(response, request.app.state.settings)

    @router.get("/v1/me", responses=documented(503))
    async def me(svc: ServicesDep, principal: PrincipalDep) -> Me:
        """Who you are: your user id, scopes and linked chat accounts."""
        user = await svc.identity.user(principal.user_id)
        links = await svc.identity.identities(principal.user_id)
        return Me(
            user_id=principal.user_id,
            display_name=user.display_name if user is not None else "",
            scopes=sorted(principal.scopes),
            via=principal.via,
            identities=[
                Identity(
                    platform=link.platform,
                    platform_user_id=link.platform_user_id,
                    chat_id=link.chat_id,
                )
                for link in links
            ],
        )

    @router.post("/v1/me/link-codes", status_code=201, responses=documented(503))
    async def link_code(svc: ServicesDep, principal: PrincipalDep) -> NewLinkCode:
        """A one-time code linking a chat account to you: type ``/start CODE`` to the
        Telegram bot or ``/link CODE`` on Discord within ten minutes."""
        code = await svc.identity.issue_link_code(principal.user_id)
        return NewLinkCode(code=code.code, expires_at=code.expires_at)

    return router
