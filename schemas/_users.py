"""Users: the people (and systems) the platform serves. A user is created with an id of their
own; their chat accounts are linked to them (``ixo.user.linked.v1``, on ``ixo.users.links``).
Credentials (password hashes, API tokens) are never events: they live in the identity store."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from schemas._base import EventData
from schemas._types import Id


class UserCreatedV1(EventData):
    event_type: ClassVar[str] = "ixo.user.created.v1"
    key_field: ClassVar[str] = "user_id"

    user_id: Id
    display_name: str = Field(default="", max_length=100)


class UserDeletedV1(EventData):
    """The user can no longer sign in; their tokens and sessions stop working."""

    event_type: ClassVar[str] = "ixo.user.deleted.v1"
    key_field: ClassVar[str] = "user_id"

    user_id: Id
