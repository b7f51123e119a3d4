"""When a task is due: a cron expression in a time zone, or a fixed period, turned into slots.

A *slot* is one instant (UTC, whole seconds) at which a task is due. Slots are a pure function
of the cadence, so every scheduler process computes the same ones:

- ``every_s``: the multiples of the period since the Unix epoch (UTC), e.g. every 3600 s fires
  on the hour; use a cron expression for wall-clock times.
- ``cron``: evaluated on the wall clock of ``timezone`` (croniter). Five fields (minute hour
  day month weekday) or an alias (``@daily``...); system tasks may give six fields, the first
  being the second. On the autumn DST change a wall time that occurs twice fires once when the
  hour field is fixed (``30 2 * * *``) and at both instants when it is not (``0 * * * *``), as
  Vixie cron does; a wall time that does not exist (spring) fires at the first instant after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

ALIASES: Final = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
MAX_EVERY_S: Final = 366 * 24 * 3600
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class CadenceError(ValueError):
    """A cadence that cannot be used; ``field`` names the input at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or :class:`CadenceError` on ``timezone``."""
    if not name or name != name.strip():
        msg = f"unknown time zone {name!r} (use an IANA name like Europe/Paris or UTC)"
        raise CadenceError(msg, field="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        msg = f"unknown time zone {name!r} (use an IANA name like Europe/Paris or UTC)"
        raise CadenceError(msg, field="timezone") from None


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        msg = "slot computations need timezone-aware datetimes"
        raise ValueError(msg)
    return value.astimezone(UTC)


def _check_cron(expr: str, *, allow_seconds: bool) -> tuple[str, bool, bool]:
    """(normalised expression, seconds field present, hour field fixed)."""
    text = " ".join(expr.split())
    if not text:
        msg = "cron: empty expression"
        raise CadenceError(msg, field="cron")
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            known = ", ".join(sorted(ALIASES))
            msg = f"cron: unknown alias {text!r} (known: {known})"
            raise CadenceError(msg, field="cron")
        return text.lower(), False, text.lower() != "@hourly"
    fields = text.split(" ")
    allowed = (5, 6) if allow_seconds else (5,)
    if len(fields) not in allowed:
        what = "5 fields (minute hour day month weekday)"
        if allow_seconds:
            what += ", or 6 with the second first"
        msg = f"cron: {text!r} has {len(fields)} fields; use {what}"
        raise CadenceError(msg, field="cron")
    seconds = len(fields) == 6
    hour = fields[2] if seconds else fields[1]
    try:
        croniter(text, EPOCH, second_at_beginning=seconds).get_next(datetime)
    except (CroniterError, ValueError, KeyError, TypeError) as exc:
        msg = f"cron: {text!r} is not a valid expression ({exc})"
        raise CadenceError(msg, field="cron") from None
    return text, seconds, "*" not in hour


@dataclass(frozen=True)
class Cadence:
    """A validated cadence. Build it with :meth:`parse`."""

    cron: str | None = None
    every_s: int | None = None
    timezone: str = "UTC"
    _seconds: bool = field(default=False, repr=False, compare=False)
    _fixed_hour: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def parse(
        cls,
        *,
        cron: str | None = None,
        every_s: float | None = None,
        timezone: str = "UTC",
        allow_seconds: bool = False,
        min_every_s: int = 60,
    ) -> Cadence:
        """Validate; :class:`CadenceError` names ``cron``, ``every_s`` or ``timezone``.

        ``allow_seconds`` admits a six-field cron (system tasks); ``min_every_s`` is the
        shortest period accepted (60 s for users' schedules)."""
        zone(timezone)
        if (cron is None) == (every_s is None):
            msg = "give exactly one of cron or every_s"
            raise CadenceError(msg, field="cron" if cron is None else "every_s")
        if every_s is not None:
            if every_s != int(every_s):
                msg = f"every_s: {every_s} is not a whole number of seconds"
                raise CadenceError(msg, field="every_s")
            if not min_every_s <= every_s <= MAX_EVERY_S:
                msg = f"every_s: must be between {min_every_s} and {MAX_EVERY_S} seconds"
                raise CadenceError(msg, field="every_s")
            return cls(every_s=int(every_s), timezone=timezone)
        assert cron is not None
        text, seconds, fixed = _check_cron(cron, allow_seconds=allow_seconds)
        return cls(cron=text, timezone=timezone, _seconds=seconds, _fixed_hour=fixed)

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.timezone)

    def _iter(self, start: datetime) -> croniter[datetime]:
        assert self.cron is not None
        return croniter(
            self.cron, _utc(start).astimezone(self.zone), second_at_beginning=self._seconds
        )

    def _repeated(self, slot: datetime) -> bool:
        """The later instant of a wall time the autumn DST change repeats (fixed hours only)."""
        if not self._fixed_hour:
            return False
        local = slot.astimezone(self.zone)
        earlier = local.replace(tzinfo=None).replace(tzinfo=self.zone, fold=0)
        return earlier.utcoffset() != local.utcoffset()

    def between(self, start: datetime, end: datetime, *, limit: int = 10_000) -> list[datetime]:
        """The slots ``s`` with ``start < s <= end`` (UTC), oldest first, at most ``limit``."""
        start, end = _utc(start), _utc(end)
        out: list[datetime] = []
        if end <= start or limit <= 0:
            return out
        if self.every_s is not None:
            step = self.every_s
            k = int((start - EPOCH).total_seconds()) // step + 1
            while len(out) < limit:
                slot = EPOCH + timedelta(seconds=k * step)
                if slot > end:
                    break
                out.append(slot)
                k += 1
            return out
        it = self._iter(start)
        while len(out) < limit:
            slot = _utc(it.get_next(datetime)).replace(microsecond=0)
            if slot > end:
                break
            if slot > start and not self._repeated(slot):
                out.append(slot)
        return out

    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after ``moment``."""
        moment = _utc(moment)
        if self.every_s is not None:
            k = int((moment - EPOCH).total_seconds()) // self.every_s + 1
            return EPOCH + timedelta(seconds=k * self.every_s)
        it = self._iter(moment)
        while True:
            slot = _utc(it.get_next(datetime)).replace(microsecond=0)
            if slot > moment and not self._repeated(slot):
                return slot

    def previous(self, moment: datetime) -> datetime:
        """The last slot strictly before ``moment``."""
        moment = _utc(moment)
        if self.every_s is not None:
            seconds = (moment - EPOCH).total_seconds()
            k = int(seconds) // self.every_s
            if k * self.every_s >= seconds:
                k -= 1
            return EPOCH + timedelta(seconds=k * self.every_s)
        it = self._iter(moment)
        while True:
            slot = _utc(it.get_prev(datetime)).replace(microsecond=0)
            if slot < moment and not self._repeated(slot):
                return slot

    def describe(self) -> str:
        """``every 3600s`` or ``cron 0 8 * * * (Europe/Paris)``."""
        if self.every_s is not None:
            return f"every {self.every_s}s"
        return f"cron {self.cron} ({self.timezone})"
