"""The adaptive block range of ``eth_getLogs`` calls (AIMD-like: halve on a refusal, double
while calls are cheap), and which node errors mean "this range is too large".

Providers cap a call by blocks (Alchemy, QuickNode: 2,000 to 10,000 blocks), by results
(Infura: 10,000 logs, "query returned more than 10000 results") or by response size and time;
each says so in its own words and codes. A refusal never skips a block: the same first block
is asked again with half the span, down to one block.
"""

from __future__ import annotations

import re
from typing import Final

REFUSAL_CODES: Final = frozenset({-32005, -32602, -32614, -32600, -32000, -32001, -32011})
"""JSON-RPC codes providers use for a range they will not serve (with a matching message for
the generic ones; -32005 "limit exceeded" alone is enough)."""

_REFUSAL_WORDS: Final = re.compile(
    r"(block range|range (is )?too (large|wide|big)|range limit|query returned more than|"
    r"more than \d+ (results|logs)|too many (results|logs|blocks)|limit exceeded|"
    r"exceed(s|ed)? (the )?(max|limit|range)|response (size|is too big)|result window|"
    r"log response size|query timeout|timed? ?out|block range extends|maximum block range|"
    r"\d+ block range|range should work|limited to (a )?[\d,]+ (block )?range|"
    r"greater than [\d,]+ max)",
    re.IGNORECASE,
)


def is_range_refusal(code: int | None, message: str) -> bool:
    """Whether a node error means the ``eth_getLogs`` range was too large."""
    if code == -32005:
        return True
    if code is not None and code not in REFUSAL_CODES:
        return False
    return _REFUSAL_WORDS.search(message) is not None


class AdaptiveRange:
    """The span (blocks per call) to ask for next.

    ``refused`` halves it (at least 1); ``served`` doubles it (at most ``maximum``) after a call
    that was quick and well under ``max_logs`` results, halves it after one that returned more
    than ``max_logs``, and keeps it otherwise.
    """

    def __init__(
        self,
        maximum: int,
        *,
        initial: int | None = None,
        max_logs: int = 10_000,
        cheap_s: float = 1.0,
    ) -> None:
        if maximum < 1:
            msg = f"the largest block range must be at least 1, not {maximum}"
            raise ValueError(msg)
        self.maximum = maximum
        self.span = max(1, min(maximum, initial or maximum))
        self.max_logs = max_logs
        self.cheap_s = cheap_s
        self.refusals = 0

    def refused(self, asked: int) -> None:
        """The node refused a range of ``asked`` blocks."""
        self.refusals += 1
        self.span = max(1, min(self.span, asked) // 2)

    def served(self, asked: int, logs: int, seconds: float) -> None:
        """A range of ``asked`` blocks came back with ``logs`` logs in ``seconds``."""
        if logs > self.max_logs:
            self.span = max(1, min(self.span, asked) // 2)
        elif asked >= self.span and seconds < self.cheap_s and logs * 2 < self.max_logs:
            self.span = min(self.maximum, self.span * 2)
