"""The trace projection's pure parts (entries, linked traces, the index's member encoding) and
where each component's /metrics listens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from consumers.projector import TraceEntry, trace_entries, traced_topics
from consumers.projector._redis import decode_entry, encode_entry
from consumers.projector._trace import Links, linked_entries, links_of
from infra.kafka import Delivery
from infra.metrics import candidate_ports, port_offset
from infra.settings import Settings
from schemas import AlertRuleCreatedV1, ChatMessageReceivedV1, CloudEvent, Condition

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def entry(eid: str, cid: str, seconds: int, cause: str | None = None) -> TraceEntry:
    return TraceEntry(
        correlation_id=cid,
        time=T0 + timedelta(seconds=seconds),
        topic="ixo.alerts.matches",
        partition=0,
        offset=seconds,
        type="t",
        id=eid,
        subject="s",
        source="/x",
        causationid=cause,
    )


def test_entries_keep_the_envelope_and_the_catalogue_topic() -> None:
    request = CloudEvent.new(
        ChatMessageReceivedV1(session_id="s", user_id="u", channel="web", text="hi"),
        source="/tests",
        time=T0,
    )
    rule = CloudEvent.new(
        AlertRuleCreatedV1(
            rule_id="r",
            user_id="u",
            symbol="BTCUSDT",
            condition=Condition(kind="above", threshold=Decimal(1)),
        ),
        source="/tests",
        causation=request,
    )
    deliveries = [
        Delivery(request, "p.ixo.chat.requests", 1, 7, 0),
        Delivery(rule, "p.ixo.alerts.rules", 0, 3, 0),
    ]
    first, second = trace_entries(deliveries, "p.")
    assert (first.correlation_id, first.topic, first.offset) == (request.id, "ixo.chat.requests", 7)
    assert (second.correlation_id, second.causationid) == (request.id, request.id)
    assert links_of(deliveries).rules == {"r": request.id}
    assert decode_entry(first.correlation_id, encode_entry(first)) == first
    assert "ixo.market.ticks" not in {t.name for t in traced_topics(["ixo.market.ticks"])}
    assert all(not t.is_dlq for t in traced_topics())


def test_an_alert_joins_its_rules_trace_and_its_delivery_follows() -> None:
    alert = entry("a1", "tick-1", 2, cause="tick-1")
    delivery = entry("d1", "tick-1", 3, cause="a1")
    unrelated = entry("x1", "x", 1, cause="elsewhere")
    links = Links(rules={}, alert_rules={"a1": "r1"})
    extra, new = linked_entries([delivery, alert, unrelated], links, {"r1": "chat-1"}, {})
    assert [(e.id, e.correlation_id) for e in extra] == [("a1", "chat-1"), ("d1", "chat-1")]
    assert new == {"a1": "chat-1", "d1": "chat-1"}
    # An alert of a rule whose story is unknown stays in its own trace only.
    assert linked_entries([alert], links, {}, {}) == ([], {})
    # A delivery in a later batch follows the alert linked before.
    later, _ = linked_entries([delivery], Links(), {}, {"a1": "chat-1"})
    assert [(e.id, e.correlation_id) for e in later] == [("d1", "chat-1")]


def test_metrics_ports_per_component_and_replica() -> None:
    base = Settings(metrics_port_base=9470)
    ports = candidate_ports(base, "rule-engine")
    assert ports[:3] == [9472, 9572, 9672]
    assert len(ports) == 16
    assert candidate_ports(base.model_copy(update={"metrics_port": 9999}), "x") == [9999]
    assert candidate_ports(base.model_copy(update={"metrics_port_base": 0}), "projector") == []
    assert 50 <= port_offset("some-new-component") < 100
    assert port_offset("some-new-component") == port_offset("some-new-component")
