"""Who is calling, and whether they may: every route of the gateway is protected unless it is
on the small allow-list :data:`PUBLIC` (decision 0110).

:func:`guard` gives the app-level dependency (``FastAPI(dependencies=guard(...))``), so a route
added to the app or to an included router is born protected. For each request, once:

1. the caller is resolved: ``Authorization: Bearer <token>`` (an API token) decides when the
   header is present; otherwise the web app's session cookie ``ixo_session``. Public routes
   skip this (a stale cookie never blocks signing in);
2. the rate limiter charges the caller (their token, or their user for a session; the client
   address while anonymous), so an anonymous flood is limited too;
3. 401 (``WWW-Authenticate: Bearer``) without a principal, and 403 when a cookie-authenticated
   write lacks the CSRF header (decision 0112).

It is one dependency reading the request, not a tree of them: FastAPI's per-dependency cost is
what ``POST /v1/events`` pays on every request (``benchmarks/gateway.py``). The caller is kept on
``request.state``; routes take it with :data:`PrincipalDep`; operator routes add
:data:`OPERATOR` (``dependencies=[OPERATOR]``) or take :data:`OperatorDep` (403 for a user
token). The OpenAPI document names the two schemes on every protected operation.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.security import APIKeyCookie, HTTPBearer

from producers.gateway._limits import RateLimiter, charge, client_address
from services import Principal, Services, Session

SESSION_COOKIE: Final = "ixo_session"
CSRF_COOKIE: Final = "ixo_csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC: Final[frozenset[tuple[str, str]]] = frozenset(
    {("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/v1/auth/login")}
)
"""The routes anyone may call (method, path template). ``/docs`` and ``/openapi.json`` are
public too: FastAPI serves them outside the routes' dependencies (they describe, hold no data)."""

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token: `Authorization: Bearer ixo_…` (`ixo tokens create`, "
    "`POST /v1/tokens`).",
)
session_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The web app's session cookie (`POST /v1/auth/login`); a write also needs the "
    f"`{CSRF_HEADER}` header equal to the `{CSRF_COOKIE}` cookie.",
)


@dataclass(frozen=True, slots=True)
class Caller:
    """The request's principal (None when anonymous), and its browser session when it came
    with the cookie."""

    principal: Principal | None = None
    session: Session | None = None
    public: bool = False


def is_public(request: Request) -> bool:
    route = request.scope.get("route")
    method = "GET" if request.method == "HEAD" else request.method
    return (method, getattr(route, "path", None)) in PUBLIC


def unauthenticated(detail: str = "sign in: an API token or the web session") -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def identify(request: Request) -> Caller:
    """The caller; never raises for missing credentials."""
    services: Services = request.app.state.services
    authorization = request.headers.get("authorization")
    if authorization is not None:  # presented: the token decides, no fallback to the cookie
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Caller()
        return Caller(await services.identity.authenticate(token.strip()))
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session = await services.identity.session(cookie)
        if session is not None:
            return Caller(session.principal, session)
    return Caller()


def rate_key(request: Request, caller: Caller) -> str:
    """What the rate limiter charges: the token, the session's user, or the client address."""
    principal = caller.principal
    if principal is None:
        return client_address(request)
    if principal.token_id is not None:
        return f"token:{principal.token_id}"
    return f"user:{principal.user_id}"


def check_csrf(request: Request, session: Session) -> None:
    """403 unless a write's ``X-CSRF-Token`` header is the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "").encode()
    if not secrets.compare_digest(sent, session.csrf_token.encode()):
        raise HTTPException(
            status_code=403,
            detail=f"a write with the session cookie needs the {CSRF_HEADER} header "
            f"(the value of the {CSRF_COOKIE} cookie)",
        )


def guard(limiter: RateLimiter) -> list[Any]:
    """The app-level dependency: who is calling, the rate limit, then 401 / 403."""

    async def authorize(request: Request) -> None:
        if is_public(request):
            charge(limiter, client_address(request))
            return
        caller = await identify(request)
        request.state.caller = caller
        charge(limiter, rate_key(request, caller))
        if caller.principal is None:
            raise unauthenticated()
        if caller.session is not None:
            check_csrf(request, caller.session)

    return [Depends(authorize)]


def _caller(request: Request) -> Caller:
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is None or caller.principal is None:  # a public route asking for a principal
        raise unauthenticated()
    return caller


async def current_caller(request: Request) -> Caller:
    return _caller(request)


async def current_principal(request: Request) -> Principal:
    principal = _caller(request).principal
    assert principal is not None
    return principal


CallerDep = Annotated[Caller, Depends(current_caller)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def operator_principal(request: Request) -> Principal:
    principal = await current_principal(request)
    if not principal.is_operator:
        raise HTTPException(status_code=403, detail="this needs the operator scope")
    return principal


OperatorDep = Annotated[Principal, Depends(operator_principal)]
OPERATOR: Final = Depends(operator_principal)
"""For ``dependencies=[OPERATOR]`` on a route that does not use the principal itself."""


def install_openapi(app: FastAPI) -> None:
    """The document names both ways to authenticate on every operation but the public ones
    (the schemes are those of FastAPI's ``HTTPBearer`` and ``APIKeyCookie``)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            schemes = {
                scheme.scheme_name: jsonable_encoder(scheme.model, by_alias=True, exclude_none=True)
                for scheme in (bearer_scheme, session_scheme)
            }
            doc.setdefault("components", {})["securitySchemes"] = schemes
            for path, item in doc.get("paths", {}).items():
                for method, operation in item.items():
                    if (method.upper(), path) not in PUBLIC:
                        operation["security"] = [{name: []} for name in schemes]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
