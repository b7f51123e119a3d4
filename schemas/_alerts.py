"""Alert rule lifecycle and rule matches."""

from __future__ import annotations

import re
from typing import ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schemas._base import EventData
from schemas._types import Dec, Id, PositiveDec, Symbol, Timestamp

ConditionKind = Literal["above", "below", "crosses_above", "crosses_below", "pct_change"]
ChannelKind = Literal["telegram", "discord", "webhook"]

MAX_WINDOW_S = 7 * 24 * 3600
_CHAT_ID = re.compile(r"-?[0-9]{1,30}")
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


class Condition(BaseModel):
    """When a rule fires. ``window_s`` is required for ``pct_change`` and refused otherwise."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ConditionKind
    threshold: Dec
    window_s: int | None = Field(default=None, ge=1, le=MAX_WINDOW_S)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.kind == "pct_change":
            if self.window_s is None:
                msg = "window_s is required for pct_change"
                raise ValueError(msg)
            if self.threshold == 0:
                msg = "threshold of pct_change must not be 0"
                raise ValueError(msg)
        else:
            if self.window_s is not None:
                msg = f"window_s applies to pct_change only, not {self.kind}"
                raise ValueError(msg)
            if self.threshold <= 0:
                msg = f"threshold of {self.kind} must be a positive price"
                raise ValueError(msg)
        return self


class Channel(BaseModel):
    """Where a notification goes: a Telegram chat id, a Discord channel id (digits, a Telegram
    group's with a leading ``-``) or a webhook URL (``http``/``https`` with a host)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ChannelKind
    target: str = Field(min_length=1, max_length=2000)

    @field_validator("target")
    @classmethod
    def _target(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind == "webhook":
            try:
                _HTTP_URL.validate_python(value)
            except ValidationError:
                msg = "a webhook target must be an http(s) URL"
                raise ValueError(msg) from None
        elif kind is not None and not _CHAT_ID.fullmatch(value):
            msg = f"a {kind} target must be a numeric id"
            raise ValueError(msg)
        return value


class _RuleBody(EventData):
    key_field: ClassVar[str] = "rule_id"

    rule_id: Id
    user_id: Id
    symbol: Symbol
    condition: Condition
    channels: tuple[Channel, ...] = ()
    cooldown_s: int = Field(default=0, ge=0, le=MAX_WINDOW_S)
    repeat: bool = False


class AlertRuleCreatedV1(_RuleBody):
    event_type: ClassVar[str] = "ixo.alert.rule.created.v1"


class AlertRuleUpdatedV1(_RuleBody):
    event_type: ClassVar[str] = "ixo.alert.rule.updated.v1"


class AlertRuleDeletedV1(EventData):
    event_type: ClassVar[str] = "ixo.alert.rule.deleted.v1"
    key_field: ClassVar[str] = "rule_id"

    rule_id: Id
    user_id: Id
    symbol: Symbol


class AlertTriggeredV1(EventData):
    """A rule matched a tick. ``match_id`` is derived from ``rule_id`` and ``tick_id``."""

    event_type: ClassVar[str] = "ixo.alert.triggered.v1"
    key_field: ClassVar[str] = "user_id"

    match_id: Id
    rule_id: Id
    user_id: Id
    symbol: Symbol
    price: PositiveDec
    condition: Condition
    tick_id: str = Field(min_length=1)
    triggered_at: Timestamp
    # Explainability (optional, so events written before they existed still validate).
    rule_version: int | None = Field(
        default=None, ge=0, description="Version of the rule that fired (0: a draft backtest)"
    )
    tick_topic: str | None = Field(default=None, description="Kafka topic of the tick")
    tick_partition: int | None = Field(default=None, ge=0)
    tick_offset: int | None = Field(default=None, ge=0)
    previous_price: Dec | None = Field(
        default=None, description="The symbol's previous tick price (crossings)"
    )
    reference_price: Dec | None = Field(
        default=None, description="The price at the start of the window (pct_change)"
    )
    reference_time: Timestamp | None = Field(
        default=None, description="Exchange time of the reference price (pct_change)"
    )
    change_pct: Dec | None = Field(
        default=None, description="(price - reference) / reference * 100 (pct_change)"
    )
