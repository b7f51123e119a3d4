"""The X source's pure parts: cashtags, the rate-limit planner, posts as events, the file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from producers.x import (
    SAMPLE_POSTS,
    Post,
    RateLimitPlanner,
    XFileError,
    extract_symbols,
    file_of,
    load_posts,
    post_event,
)
from producers.x._planner import MIN_429_WAIT_S

EP = "/2/tweets/search/recent"


@pytest.mark.parametrize(
    ("text", "symbols"),
    [
        ("$btc up, $ETH too, $BTC again", ("BTCUSDT", "ETHUSDT")),
        ("paid $100 for it, $5k later", ()),
        ("US$BTC and a$ETH are not cashtags", ()),
        ("($SOL) and $LINK.", ("SOLUSDT", "LINKUSDT")),
        ("$BTCUSDT pair", ("BTCUSDT",)),
        ("no tags here", ()),
    ],
)
def test_cashtags_become_symbols(text: str, symbols: tuple[str, ...]) -> None:
    assert extract_symbols(text) == symbols


def headers(remaining: int, reset: float) -> dict[str, str]:
    return {"x-rate-limit-remaining": str(remaining), "x-rate-limit-reset": str(int(reset))}


def test_planner_sends_at_once_before_any_answer() -> None:
    assert RateLimitPlanner().wait_s(EP, 1000.0) == 0.0


def test_planner_spreads_remaining_requests_over_the_window() -> None:
    planner = RateLimitPlanner()
    planner.observe(EP, 200, headers(10, 1100), now=1000.0)
    assert planner.wait_s(EP, 1000.0) == pytest.approx(10.0)
    assert planner.wait_s(EP, 1004.0) == pytest.approx(6.0)
    assert planner.wait_s(EP, 1010.0) == 0.0


def test_planner_waits_for_the_reset_when_the_window_is_spent() -> None:
    planner = RateLimitPlanner()
    planner.observe(EP, 200, headers(0, 1900), now=1000.0)
    assert planner.wait_s(EP, 1000.0) == pytest.approx(900.0)
    assert planner.wait_s(EP, 1899.0) == pytest.approx(1.0)
    assert planner.wait_s(EP, 1900.0) == 0.0


def test_planner_waits_for_the_reset_after_a_429() -> None:
    planner = RateLimitPlanner()
    planner.observe(EP, 429, headers(0, 1300), now=1000.0)
    assert planner.wait_s(EP, 1000.0) == pytest.approx(300.0)
    # a reset already past still waits a little instead of hammering
    planner.observe(EP, 429, headers(0, 900), now=1000.0)
    assert planner.wait_s(EP, 1000.0) == pytest.approx(MIN_429_WAIT_S)


def test_planner_keeps_endpoints_apart() -> None:
    planner = RateLimitPlanner()
    planner.observe(EP, 200, headers(0, 1900), now=1000.0)
    assert planner.wait_s("/2/users/{id}/tweets", 1000.0) == 0.0


def test_a_post_is_the_same_event_every_time() -> None:
    post = Post("123", "$ETH moon", "alice", datetime(2025, 1, 6, tzinfo=UTC), {"like_count": 3})
    first, again = post_event(post), post_event(post)
    assert first.id == again.id
    assert first.time == again.time == post.created_at
    assert first.subject == "123"
    assert first.data.url == "https://x.com/i/web/status/123"
    assert first.data.symbols == ("ETHUSDT",)
    assert post_event(Post("124", "x", "a", post.created_at)).id != first.id


def test_the_sample_is_labelled_and_loads() -> None:
    assert "SYNTHETIC" in SAMPLE_POSTS.read_text().splitlines()[0]
    posts = load_posts(SAMPLE_POSTS)
    assert len(posts) == 40
    assert len({p.id for p in posts}) == 40
    assert any(extract_symbols(p.text) for p in posts)


def test_a_bad_posts_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_text(
        '{"id": "1", "text": "a", "author": "b", "created_at": "2025-01-06T00:00:00Z"}\n'
        '{"id": "x"}\n'
    )
    with pytest.raises(XFileError, match=r"posts.jsonl:2"):
        load_posts(path)


def test_source_specs() -> None:
    assert file_of("api") is None
    assert file_of("sample") == SAMPLE_POSTS
    assert file_of("file:/data/p.jsonl") == Path("/data/p.jsonl")
    with pytest.raises(ValueError, match="expected api"):
        file_of("ftp")
