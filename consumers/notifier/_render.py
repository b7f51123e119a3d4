"""The text of an alert in a chat message (Telegram, Discord): short, plain, no markup."""

from __future__ import annotations

from datetime import UTC

from schemas import AlertTriggeredV1, AnyEvent, decimal_str

KIND_WORDS = {
    "above": "above",
    "below": "below",
    "crosses_above": "crossed above",
    "crosses_below": "crossed below",
}


def alert_text(alert: AlertTriggeredV1) -> str:
    cond = alert.condition
    if cond.kind == "pct_change":
        moved = f"{decimal_str(alert.change_pct)}%" if alert.change_pct is not None else "?"
        what = f"moved {moved} in {cond.window_s}s (threshold {decimal_str(cond.threshold)}%)"
    else:
        what = f"{KIND_WORDS[cond.kind]} {decimal_str(cond.threshold)}"
    at = alert.triggered_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"\N{BELL} {alert.symbol} {what}: now {decimal_str(alert.price)}\n"
        f"rule {alert.rule_id} \N{MIDDLE DOT} {at} UTC"
    )


def event_text(event: AnyEvent) -> str:
    """A chat message for an event: the alert text, or the event's type and subject."""
    if isinstance(event.data, AlertTriggeredV1):
        return alert_text(event.data)
    return f"{event.type} {event.subject}"
