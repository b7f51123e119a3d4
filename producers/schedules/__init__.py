"""Schedule commands shared by the gateway, the CLI and the bots."""

from producers.schedules._service import (
    ScheduleDraft,
    ScheduleNotFound,
    ScheduleReceipt,
    ScheduleService,
    check_draft,
    describe_schedule,
    next_run,
    parse_schedule,
    schedule_id_for,
    schedule_view,
)

__all__ = [
    "ScheduleDraft",
    "ScheduleNotFound",
    "ScheduleReceipt",
    "ScheduleService",
    "check_draft",
    "describe_schedule",
    "next_run",
    "parse_schedule",
    "schedule_id_for",
    "schedule_view",
]
