"""Identity: users, their credentials, sessions and the codes that link chat accounts.

- Users are events (``ixo.user.created.v1`` on the compacted ``ixo.users``) and a read model.
- Credentials are never events: the account (created with the user, removed when they are
  deleted: what sign-in checks, written at once so a token can be made right after ``ixo users
  create``), its password hash (argon2id, ``argon2-cffi``) and API tokens (random, 256 bits,
  shown once, stored as their SHA-256: a token is high-entropy, so a fast hash is enough and
  lets every request be checked in one indexed lookup) live in MongoDB's ``accounts`` and
  ``api_tokens`` collections, written only here.
- Browser sessions, link codes and login-attempt counters are short-lived: Redis, with TTLs.

Every client gets the same rules from here: the gateway authenticates a request to a
:class:`Principal`; a bot redeems a link code; ``ixo users`` / ``ixo tokens`` manage the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from readmodels import Link, ReadModels, User
from schemas import (
    USERS,
    Id,
    InvalidEvent,
    IxoError,
    TransientError,
    UserCreatedV1,
    UserDeletedV1,
    UserLinkedV1,
    new_event_id,
    utc_now,
)
from services._commands import Commands, NotFound, Publisher, Receipt, parse_input
from services._links import LinkService

Scope = Literal["user", "operator"]
SCOPES: Final[frozenset[str]] = frozenset({"user", "operator"})
TOKEN_PREFIX: Final = "ixo_"  # noqa: S105 - a marker, not a secret
TOKEN_BYTES: Final = 32
MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 256
SESSION_TTL_S: Final = 12 * 3600
LINK_CODE_TTL_S: Final = 600
LINK_CODE_CHARS: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
LINK_CODE_LENGTH: Final = 8
LOGIN_FAILURES: Final = 5
"""Failed logins of one user within :data:`LOGIN_WINDOW_S` before further attempts wait."""
LOGIN_WINDOW_S: Final = 900
REDEEM_FAILURES: Final = 5
"""Wrong link codes one chat account may try within :data:`LOGIN_WINDOW_S`."""
PRINCIPAL_CACHE_S: Final = 5.0
"""How long a gateway process trusts a token lookup (a revocation takes effect within this)."""


class UnknownUser(NotFound):
    """No such (live) user."""


class TooManyAttempts(IxoError):  # noqa: N818
    """Too many failed attempts: wait ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Principal(BaseModel):
    """Who is calling: a user with scopes, authenticated by a token or a browser session."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    scopes: frozenset[str]
    via: Literal["token", "session", "cli"]
    token_id: str | None = None

    @property
    def is_operator(self) -> bool:
        return "operator" in self.scopes


class NewUser(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: Id
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token as listed (never its value)."""

    token_id: str
    user_id: str
    scopes: tuple[str, ...]
    name: str
    created_at: datetime
    revoked_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "user_id": self.user_id,
            "scopes": list(self.scopes),
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True, slots=True)
class NewToken:
    """A created token: ``token`` is its value, shown this once."""

    token: str
    info: TokenInfo


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    csrf_token: str
    principal: Principal


@dataclass(frozen=True, slots=True)
class LinkCode:
    code: str
    expires_at: datetime


def _mongo_down(exc: Exception) -> TransientError:
    return TransientError(f"MongoDB unavailable: {exc}")


def _redis_down(exc: Exception) -> TransientError:
    return TransientError(f"Redis unavailable: {exc}")


async def _count_failure(kv: Redis, key: str) -> None:
    """One more failure in ``key``'s window (the window starts with the first failure; SET NX
    then INCR keeps its TTL: works on Redis 6, which has no EXPIRE NX)."""
    async with kv.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=LOGIN_WINDOW_S, nx=True)
        pipe.incr(key)
        await pipe.execute()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class _Cache:
    """Token digest -> (principal or None, expiry on the monotonic clock)."""

    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    entries: dict[str, tuple[Principal | None, float]] = field(default_factory=dict)

    def get(self, key: str) -> tuple[bool, Principal | None]:
        found = self.entries.get(key)
        if found is None or found[1] < self.clock():
            return False, None
        return True, found[0]

    def put(self, key: str, value: Principal | None) -> None:
        if len(self.entries) > 10_000:
            self.entries.clear()
        self.entries[key] = (value, self.clock() + self.ttl_s)


class IdentityService:
    """Users, credentials, sessions and link codes."""

    def __init__(
        self,
        publisher: Publisher,
        reads: ReadModels,
        database: AsyncDatabase[dict[str, Any]],
        redis: Redis | None,
        *,
        source: str,
        key_prefix: str,
        links: LinkService,
        cache_s: float = PRINCIPAL_CACHE_S,
    ) -> None:
        self._commands = Commands(publisher, source=source, topic=USERS, id_field="user_id")
        self._reads = reads
        self._accounts = database["accounts"]
        self._tokens = database["api_tokens"]
        self._redis = redis
        self._prefix = key_prefix
        self._links = links
        self._hasher = PasswordHasher()
        self._dummy: str | None = None
        self._cache = _Cache(cache_s)
        self._indexed = False

    # -- storage helpers ----------------------------------------------------------------

    async def _ensure_indexes(self) -> None:
        if self._indexed:
            return
        try:
            await self._tokens.create_indexes([IndexModel([("hash", ASCENDING)], unique=True)])
        except PyMongoError as exc:
            raise _mongo_down(exc) from None
        self._indexed = True

    def _kv(self) -> Redis:
        if self._redis is None:
            msg = "this service has no Redis (sessions and link codes need one)"
            raise RuntimeError(msg)
        return self._redis

    # -- users ----------------------------------------------------------------------------

    async def create_user(self, user_id: str, display_name: str = "") -> Receipt:
        """Publish ``ixo.user.created.v1``; an existing live user is refused."""
        draft = parse_input(NewUser, {"user_id": user_id, "display_name": display_name})
        try:
            await self._accounts.insert_one({"_id": draft.user_id, "created_at": utc_now()})
        except DuplicateKeyError:
            msg = f"user {draft.user_id} exists"
            raise InvalidEvent(msg, kind="invalid_event", field="user_id") from None
        except PyMongoError as exc:
            raise _mongo_down(exc) from None
        return await self._commands.publish(
            UserCreatedV1(user_id=draft.user_id, display_name=draft.display_name)
        )

    async def delete_user(self, user_id: str) -> Receipt:
        """Publish ``ixo.user.deleted.v1``, revoke their tokens and forget their password."""
        await self.require_user(user_id)
        receipt = await self._commands.publish(UserDeletedV1(user_id=user_id))
        try:
            await self._tokens.update_many(
                {"user_id": user_id, "revoked_at": None}, {"$set": {"revoked_at": utc_now()}}
            )
            await self._accounts.delete_one({"_id": user_id})
        except PyMongoError as exc:
            raise _mongo_down(exc) from None
        self._cache.entries.clear()
        return receipt

    async def exists(self, user_id: str) -> bool:
        """Whether the user has a live account (what sign-in and tokens check)."""
        try:
            return await self._accounts.find_one({"_id": user_id}, {"_id": 1}) is not None
        except PyMongoError as exc:
            raise _mongo_down(exc) from None

    async def user(self, user_id: str) -> User | None:
        """The user as the ``users`` read model shows them (None until projected)."""
        found = await self._reads.user(user_id)
        return None if found is None or found.deleted else found

    async def require_user(self, user_id: str) -> None:
        if not await self.exists(user_id):
            msg = f"no user {user_id} (create one: ixo users create {user_id})"
            raise UnknownUser(msg)

    async def users(self) -> list[User]:
        return await self._reads.users()

    async def identities(self, user_id: str) -> list[Link]:
        """The chat accounts linked to the user."""
        return await self._reads.links(user_id)

    # -- passwords ------------------------------------------------------------------------

    async def set_password(self, user_id: str, password: str) -> None:
        await self.require_user(user_id)
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            msg = f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters"
            raise InvalidEvent(msg, kind="invalid_event", field="password")
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        try:
            await self._accounts.update_one(
                {"_id": user_id}, {"$set": {"password": hashed, "updated_at": utc_now()}}
            )
        except PyMongoError as exc:
            raise _mongo_down(exc) from None

    async def login(self, user_id: str, password: str) -> Principal | None:
        """The user's principal when the password is right; None otherwise. Too many failures
        of one user within the window raise :class:`TooManyAttempts` (before checking)."""
        kv = self._kv()
        key = f"{self._prefix}login:{user_id}"
        try:
            failures = int(_text(await kv.get(key)) or 0)
            if failures >= LOGIN_FAILURES:
                wait = max(1, int(await kv.ttl(key)))
                msg = "too many failed sign-ins; try again later"
                raise TooManyAttempts(msg, wait)
        except RedisError as exc:
            raise _redis_down(exc) from None
        principal = await self._check_password(user_id, password)
        if principal is None:
            try:
                await _count_failure(kv, key)
            except RedisError as exc:
                raise _redis_down(exc) from None
        return principal

    async def _check_password(self, user_id: str, password: str) -> Principal | None:
        try:
            found = await self._accounts.find_one({"_id": user_id})
        except PyMongoError as exc:
            raise _mongo_down(exc) from None
        stored = (found or {}).get("password")
        if len(password) > MAX_PASSWORD:
            return None
        known = isinstance(stored, str)
        if not known:
            # The same work for an unknown user (or one without a password): the answer's
            # timing does not tell who exists.
            if self._dummy is None:
                self._dummy = await asyncio.to_thread(self._hasher.hash, secrets.token_hex(16))
            stored = self._dummy
        try:
            await asyncio.to_thread(self._hasher.verify, str(stored), password)
        except (VerificationError, InvalidHashError):
            return None
        if not known:
            return None
        return Principal(user_id=user_id, scopes=frozenset({"user"}), via="session")

    # -- API tokens -----------------------------------------------------------------------

    async def create_token(
        self, user_id: str, scopes: tuple[str, ...] = ("user",), name: str = ""
    ) -> NewToken:
        """A new token for the user; its value is in the result only."""
        await self.require_user(user_id)
        unknown = sorted(set(scopes) - SCOPES)
        if unknown or not scopes:
            msg = f"scopes are user and/or operator, not {', '.join(unknown) or 'none'}"
            raise InvalidEvent(msg, kind="invalid_event", field="scopes")
        if len(name) > 100:
            msg = "a token name has at most 100 characters"
            raise InvalidEvent(msg, kind="invalid_event", field="name")
        await self._ensure_indexes()
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        info = TokenInfo(
            token_id="tok_" + new_event_id().replace("-", "")[:20],
            user_id=user_id,
            scopes=tuple(sorted(set(scopes))),
            name=name,
            created_at=utc_now(),
        )
        try:
            await self._tokens.insert_one(
                {
                    "_id": info.token_id,
                    "hash": _digest(token),
                    "user_id": user_id,
                    "scopes": list(info.scopes),
                    "name": name,
                    "created_at": info.created_at,
                    "revoked_at": None,
                }
            )
        except DuplicateKeyError:  # pragma: no cover - 256 random bits
            msg = "token collision; try again"
            raise TransientError(msg) from None
        except PyMongoError as exc:
            raise _mongo_down(exc) from None
        return NewToken(token, info)

    async def tokens(self, user_id: str | None = None) -> list[TokenInfo]:
        query: dict[str, Any] = {} if user_id is None else {"user_id": user_id}
        try:
            found = [doc async for doc in self._tokens.find(query, sort=[("created_at", 1)])]
        except PyMongoError as exc:
            raise _mongo_down(exc) from None
        return [
            TokenInfo(
                token_id=d["_id"],
                user_id=d["user_id"],
                scopes=tuple(d["scopes"]),
                name=d.get("name", ""),
                created_at=d["created_at"],
                revoked_at=d.get("revoked_at"),
            )
            for d in found
        ]

    async def revoke_token(self, token_id: str, *, user_id: str | None = None) -> TokenInfo:
        """Revoke a token (of ``user_id`` when given); it stops working within the cache time."""
        query: dict[str, Any] = {"_id": token_id}
        if user_id is not None:
            query["user_id"] = user_id
        try:
            found = await self._tokens.find_one_and_update(
                query, {"$set": {"revoked_at": utc_now()}}, return_document=True
            )
        except PyMongoError as exc:
            raise _mongo_down(exc) from None
        if found is None:
            msg = f"no token {token_id}"
            raise NotFound(msg)
        self._cache.entries.clear()
        return TokenInfo(
            token_id=found["_id"],
            user_id=found["user_id"],
            scopes=tuple(found["scopes"]),
            name=found.get("name", ""),
            created_at=found["created_at"],
            revoked_at=found.get("revoked_at"),
        )

    async def authenticate(self, token: str) -> Principal | None:
        """The principal of a live token of a live user; None for anything else."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = _digest(token)
        hit, principal = self._cache.get(digest)
        if hit:
            return principal
        try:
            found = await self._tokens.find_one({"hash": digest, "revoked_at": None})
        except PyMongoError as exc:
            raise _mongo_down(exc) from None
        principal = None
        if found is not None and await self.exists(found["user_id"]):
            principal = Principal(
                user_id=found["user_id"],
                scopes=frozenset(found["scopes"]),
                via="token",
                token_id=found["_id"],
            )
        self._cache.put(digest, principal)
        return principal

    # -- browser sessions -----------------------------------------------------------------

    async def start_session(self, principal: Principal) -> Session:
        session = Session(
            session_id=secrets.token_urlsafe(TOKEN_BYTES),
            csrf_token=secrets.token_urlsafe(TOKEN_BYTES),
            principal=principal.model_copy(update={"via": "session"}),
        )
        value = f"{principal.user_id}\n{','.join(sorted(principal.scopes))}\n{session.csrf_token}"
        try:
            await self._kv().set(
                f"{self._prefix}session:{_digest(session.session_id)}", value, ex=SESSION_TTL_S
            )
        except RedisError as exc:
            raise _redis_down(exc) from None
        return session

    async def session(self, session_id: str) -> Session | None:
        if not session_id or len(session_id) > 200:
            return None
        try:
            raw = _text(await self._kv().get(f"{self._prefix}session:{_digest(session_id)}"))
        except RedisError as exc:
            raise _redis_down(exc) from None
        if raw is None:
            return None
        user_id, scopes, csrf = raw.split("\n")
        if not await self.exists(user_id):
            return None
        principal = Principal(
            user_id=user_id, scopes=frozenset(s for s in scopes.split(",") if s), via="session"
        )
        return Session(session_id, csrf, principal)

    async def end_session(self, session_id: str) -> None:
        try:
            await self._kv().delete(f"{self._prefix}session:{_digest(session_id)}")
        except RedisError as exc:
            raise _redis_down(exc) from None

    # -- link codes -----------------------------------------------------------------------

    async def issue_link_code(self, user_id: str) -> LinkCode:
        """A one-time code the user types into a bot (``/start CODE``) within ten minutes."""
        await self.require_user(user_id)
        code = "".join(secrets.choice(LINK_CODE_CHARS) for _ in range(LINK_CODE_LENGTH))
        try:
            await self._kv().set(f"{self._prefix}code:{code}", user_id, ex=LINK_CODE_TTL_S)
        except RedisError as exc:
            raise _redis_down(exc) from None
        return LinkCode(code, utc_now() + timedelta(seconds=LINK_CODE_TTL_S))

    async def redeem_link_code(
        self, code: str, link: UserLinkedV1, *, event_id: str | None = None
    ) -> Receipt | None:
        """Link the chat account in ``link`` (its ``user_id`` is ignored) to the user the code
        was issued to: the code works once. None for an unknown, expired or used code; too many
        wrong codes from one account raise :class:`TooManyAttempts`."""
        kv = self._kv()
        attempts = f"{self._prefix}redeem:{link.link_id}"
        normal = code.strip().upper()
        try:
            failures = int(_text(await kv.get(attempts)) or 0)
            if failures >= REDEEM_FAILURES:
                msg = "too many wrong codes; try again later"
                raise TooManyAttempts(msg, max(1, int(await kv.ttl(attempts))))
            valid = len(normal) == LINK_CODE_LENGTH and set(normal) <= set(LINK_CODE_CHARS)
            key = f"{self._prefix}code:{normal}"
            user_id, left_ms = None, 0
            if valid:
                async with kv.pipeline(transaction=True) as pipe:
                    pipe.pttl(key)
                    pipe.getdel(key)
                    left_ms, raw = await pipe.execute()
                user_id = _text(raw)
            if user_id is None:
                await _count_failure(kv, attempts)
                return None
        except RedisError as exc:
            raise _redis_down(exc) from None
        linked = link.model_copy(update={"user_id": user_id})
        try:
            return await self._links.link(linked, event_id=event_id)
        except Exception:
            # Not linked: the code works again for the time it had left (the bot retries).
            with contextlib.suppress(RedisError):
                await kv.set(key, user_id, px=max(1, int(left_ms)), nx=True)
            raise

    # -- the first operator ---------------------------------------------------------------

    async def ensure_user(self, user_id: str, display_name: str = "") -> bool:
        """Create the user unless they exist; True when created."""
        if await self.exists(user_id):
            return False
        await self.create_user(user_id, display_name)
        return True
