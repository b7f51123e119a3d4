"""The ``users`` and ``links`` projections: users (tombstones kept) and the chat accounts linked
to them (the latest link of an account wins)."""

from __future__ import annotations

from datetime import UTC
from typing import Any, ClassVar

from consumers.projector._entities import EntityProjection
from readmodels import Link, ReadModel, User
from schemas import (
    USER_LINKS,
    USERS,
    AnyEvent,
    EventData,
    Topic,
    UserCreatedV1,
    UserDeletedV1,
    UserLinkedV1,
)


class UsersProjection(EntityProjection):
    name: ClassVar[str] = "users"
    topic: ClassVar[Topic] = USERS
    document: ClassVar[type[ReadModel]] = User
    key_field: ClassVar[str] = "user_id"
    alive: ClassVar[tuple[type[EventData], ...]] = (UserCreatedV1,)
    dead: ClassVar[tuple[type[EventData], ...]] = (UserDeletedV1,)

    def live_doc(self, event: AnyEvent, data: UserCreatedV1) -> dict[str, Any]:
        return {"display_name": data.display_name, "created_at": event.time.astimezone(UTC)}

    def tombstone_doc(self, event: AnyEvent, data: UserDeletedV1) -> dict[str, Any]:
        return {"display_name": ""}


class LinksProjection(EntityProjection):
    name: ClassVar[str] = "links"
    topic: ClassVar[Topic] = USER_LINKS
    document: ClassVar[type[ReadModel]] = Link
    key_field: ClassVar[str] = "link_id"
    alive: ClassVar[tuple[type[EventData], ...]] = (UserLinkedV1,)
    dead: ClassVar[tuple[type[EventData], ...]] = ()

    def live_doc(self, event: AnyEvent, data: UserLinkedV1) -> dict[str, Any]:
        return {
            "user_id": data.user_id,
            "platform": data.platform,
            "platform_user_id": data.platform_user_id,
            "chat_id": data.chat_id,
        }
