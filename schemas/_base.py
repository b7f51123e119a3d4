"""The base class of every event payload: frozen, versioned, keyed."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

_TYPE_RE = re.compile(r"^ixo(\.[a-z_]+)+\.v[0-9]+$")


class EventData(BaseModel):
    """A typed event payload.

    Subclasses declare the CloudEvents ``type`` they travel as (ending in ``.vN``) and the
    payload field that is the partition key. A breaking change is a new class with a new
    version, never an edit in place. Unknown fields are ignored (tolerant reader), so adding an
    optional field is not breaking.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)

    event_type: ClassVar[str]
    key_field: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        event_type = cls.__dict__.get("event_type")
        if event_type is not None and not _TYPE_RE.match(event_type):
            msg = f"{cls.__name__}.event_type {event_type!r} must look like ixo.<family>.<name>.vN"
            raise TypeError(msg)

    def key(self) -> str:
        """The partition key (the CloudEvents ``subject``) of this payload."""
        return str(getattr(self, self.key_field))
