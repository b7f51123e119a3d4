"""Schedules as users type them: the bots' /schedule, /schedules and /unschedule, and the
validation shared by the API, the CLI and the bots (each error names its field)."""

from __future__ import annotations

import pytest

from bots import BadCommand, command_from_options, parse_command
from bots._commands import ScheduleCreate, ScheduleDelete, ScheduleList
from bots._replies import schedule_created_text
from schemas import InvalidEvent
from services import parse_schedule, schedule_id_for


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "/schedule 0 8 * * * summarise BTC",
            ScheduleCreate("0 8 * * *", None, "UTC", "summarise BTC"),
        ),
        (
            "/schedule 30 7 * * 1-5 tz=Europe/Paris how is   ETH?",
            ScheduleCreate("30 7 * * 1-5", None, "Europe/Paris", "how is ETH?"),
        ),
        ("/schedule every 4h digest", ScheduleCreate(None, 4 * 3600, "UTC", None)),
        ("/schedule @daily DIGEST", ScheduleCreate("@daily", None, "UTC", None)),
        (
            "/schedule@impressox_bot every 90m tz:Asia/Tokyo news",
            ScheduleCreate(None, 5400, "Asia/Tokyo", "news"),
        ),
        ("/schedules", ScheduleList()),
        ("/unschedule s-abc123", ScheduleDelete("s-abc123")),
    ],
)
def test_schedule_commands_parse(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("/schedule", "Usage: /schedule"),
        ("/schedule summarise BTC every day", "Start with when to run"),
        ("/schedule 0 8 * *", "Start with when to run"),
        ("/schedule 0 8 * * *", "Say what to run"),
        ("/schedule every soon hello", "'soon' is not a window"),
        ("/schedule every 30s hello", "at most once a minute"),
        ("/schedule every", "Usage: /schedule"),
        ("/schedule 0 8 * * * " + "x" * 5000, "too long"),
        ("/schedules now", "Usage: /schedules"),
        ("/unschedule", "Usage: /unschedule"),
        ("/unschedule a/b", "not a valid schedule id"),
    ],
)
def test_bad_schedule_commands_get_a_short_usage(text: str, says: str) -> None:
    command = parse_command(text)
    assert isinstance(command, BadCommand)
    assert says in command.message
    assert len(command.message) < 1000


def test_discord_schedule_options_parse_like_the_text_command() -> None:
    assert command_from_options(
        "schedule", {"when": "0 8 * * *", "tz": "Europe/Paris", "prompt": "summarise BTC"}
    ) == ScheduleCreate("0 8 * * *", None, "Europe/Paris", "summarise BTC")
    assert command_from_options("schedule", {"when": "every 1d", "prompt": "digest"}) == (
        ScheduleCreate(None, 86400, "UTC", None)
    )
    assert command_from_options("unschedule", {"id": "s-1"}) == ScheduleDelete("s-1")
    assert command_from_options("schedules", {}) == ScheduleList()


GOOD = {"user_id": "alice", "cron": "0 8 * * *", "prompt": "summarise BTC"}


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"cron": "61 8 * * *"}, "cron", "not a valid expression"),
        ({"cron": "*/5 * * * * *"}, "cron", "use 5 fields"),
        ({"cron": None}, "cron", "give a cron expression or every_s"),
        ({"every_s": 3600}, "every_s", "not both"),
        ({"cron": None, "every_s": 59}, "every_s", "greater than or equal to 60"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"prompt": None}, "prompt", "needs the prompt text"),
        ({"prompt": "   "}, "prompt", "needs the prompt text"),
        ({"task": "alert_digest"}, "prompt", "takes no prompt"),
        ({"task": "weather"}, "task", "prompt"),
        ({"channel": "telegram"}, "chat_id", "needs the chat id"),
        ({"channel": "pager", "chat_id": "1"}, "channel", "telegram"),
        ({"chat_id": "a b"}, "chat_id", "pattern"),
        ({"user_id": ""}, "user_id", "at least 1"),
        ({"schedule_id": "x" * 101}, "schedule_id", "at most 100"),
        ({"color": "red"}, "color", "Extra inputs"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(
    change: dict[str, object], field: str, says: str
) -> None:
    with pytest.raises(InvalidEvent, match=says) as info:
        parse_schedule({**GOOD, **change})
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_good_schedules_are_normalised() -> None:
    draft = parse_schedule({**GOOD, "cron": " 0  8 * * * ", "timezone": "Europe/Paris"})
    assert draft.cron == "0 8 * * *"
    digest = parse_schedule(
        {
            "user_id": "bob",
            "task": "alert_digest",
            "every_s": 86400,
            "channel": "discord",
            "chat_id": "42",
        }
    )
    assert digest.prompt is None


def test_bot_schedule_ids_and_replies() -> None:
    assert schedule_id_for("e1") == schedule_id_for("e1") != schedule_id_for("e2")
    assert schedule_id_for("e1").startswith("s-")
    assert len(schedule_id_for("e1")) == 14
    draft = parse_schedule({**GOOD, "timezone": "Europe/Paris"})
    text = schedule_created_text("s-abc", draft)
    assert text.startswith(
        "Schedule s-abc set: cron 0 8 * * * (Europe/Paris), ask the agent: summarise BTC."
    )
    assert "Remove it with /unschedule s-abc" in text
    next_line = text.splitlines()[1]
    assert next_line.startswith("Next run: 20")
    assert " UTC. " in next_line
