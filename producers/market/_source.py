"""Source specs: the text after ``--source`` turned into a :class:`TickSource`.

Grammar: ``NAME[?OPTION=VALUE&...]`` for an exchange or the bundled sample,
``file:PATH[?OPTION=VALUE&...]`` for a replay (a ``?`` in PATH therefore starts the options).
Options:

- ``binance``: ``url`` (WebSocket base URL), ``stream`` (``trade`` or ``miniTicker``);
- ``coinbase``: ``url`` (WebSocket feed URL);
- ``file:PATH``: ``speed`` (number >= 0, 0 = as fast as possible; default 1), ``loop``
  (``1``/``true``/``yes``/``on``, or bare ``loop``; default off), ``times`` (``original``, the
  default, or ``now``: see :class:`~producers.market._file.FileReplay`);
- ``sample``: the bundled synthetic ticks (:data:`SAMPLE_TICKS`), with the same options as a
  file but other defaults: ``speed=1``, ``loop=1``, ``times=now`` (``sample?times=original``
  keeps the file's 2025 times for a reproducible run).

Keyword arguments (``speed=``, ``loop=``, ``url=``) override the options in the text; that is how
the CLI's ``--speed``/``--loop`` flags arrive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import parse_qsl

from producers.market._binance import BINANCE, DEFAULT_BINANCE_URL, Binance
from producers.market._coinbase import COINBASE, DEFAULT_COINBASE_URL, Coinbase
from producers.market._errors import SourceError
from producers.market._file import FILE, FileReplay
from producers.market._symbols import canonical_symbol
from producers.market._types import TickSource, TickTimes
from producers.market._ws import ConnectionOptions, WebSocketSource

SAMPLE = "sample"
SAMPLE_TICKS = Path(__file__).parent / "data" / "sample_ticks.csv"
"""The shipped sample: synthetic ticks (a seeded random walk, see ``data/README.md``)."""

SOURCES: tuple[str, ...] = (BINANCE, COINBASE, FILE, SAMPLE)
"""Source names; a file source is written ``file:PATH``."""

DEFAULT_SYMBOLS: Mapping[str, tuple[str, ...]] = {
    BINANCE: ("BTCUSDT", "ETHUSDT", "SOLUSDT"),
    COINBASE: ("BTCUSD", "ETHUSD", "SOLUSD"),
    FILE: (),  # every symbol in the file
    SAMPLE: (),
}
"""The symbols a source follows when none are given."""

DEFAULT_URLS: Mapping[str, str] = {BINANCE: DEFAULT_BINANCE_URL, COINBASE: DEFAULT_COINBASE_URL}

_OPTIONS: Mapping[str, frozenset[str]] = {
    BINANCE: frozenset({"url", "stream"}),
    COINBASE: frozenset({"url"}),
    FILE: frozenset({"speed", "loop", "times"}),
    SAMPLE: frozenset({"speed", "loop", "times"}),
}
_REPLAY_DEFAULTS: Mapping[str, Mapping[str, str]] = {
    FILE: {"speed": "1", "loop": "0", "times": TickTimes.ORIGINAL},
    SAMPLE: {"speed": "1", "loop": "1", "times": TickTimes.NOW},
}
_TRUE = frozenset({"", "1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_USAGE = (
    "use binance, coinbase, sample or file:PATH "
    "(options after ?, e.g. file:ticks.csv?speed=10&loop=1 or sample?times=original)"
)


def _options(spec: str, name: str, query: str) -> dict[str, str]:
    pairs = parse_qsl(query, keep_blank_values=True)  # a bare KEY is KEY=""
    options: dict[str, str] = {}
    for key, value in pairs:
        if key not in _OPTIONS[name]:
            known = ", ".join(sorted(_OPTIONS[name]))
            msg = f"unknown option {key!r} for source {name} (known: {known})"
            raise SourceError(msg)
        if key in options:
            msg = f"option {key!r} given twice in source {spec!r}"
            raise SourceError(msg)
        options[key] = value
    return options


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        msg = f"speed must be a number >= 0 (0 = as fast as possible), got {text!r}"
        raise SourceError(msg)
    return value


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    msg = f"loop must be 1/true/yes/on or 0/false/no/off, got {text!r}"
    raise SourceError(msg)


def _times(text: str) -> TickTimes:
    try:
        return TickTimes(text.strip().lower())
    except ValueError:
        known = " or ".join(t.value for t in TickTimes)
        msg = f"times must be {known}, got {text!r}"
        raise SourceError(msg) from None


def source_name(spec: str) -> str:
    """The source name of a spec (``binance``, ``coinbase``, ``file`` or ``sample``)."""
    head = spec.strip().partition("?")[0]
    name = FILE if head.startswith(f"{FILE}:") else head.lower()
    if name not in SOURCES:
        msg = f"unknown market source {spec!r}: {_USAGE}"
        raise SourceError(msg)
    return name


def open_source(
    spec: str,
    symbols: Sequence[str] = (),
    *,
    speed: float | None = None,
    loop: bool | None = None,
    times: TickTimes | None = None,
    url: str | None = None,
    connection: ConnectionOptions | None = None,
) -> TickSource:
    """The source a spec names, validated (symbols, options, the replay file) before it runs.

    Empty ``symbols`` means the source's :data:`DEFAULT_SYMBOLS` (for a file: every symbol).
    """
    spec = spec.strip()
    name = source_name(spec)
    head, _, query = spec.partition("?")
    options = _options(spec, name, query)
    chosen = list(symbols) or list(DEFAULT_SYMBOLS[name])
    for symbol in chosen:
        canonical_symbol(symbol)
    if name in (FILE, SAMPLE):
        if url is not None:
            msg = "url applies to exchange sources, not to file replays"
            raise SourceError(msg)
        path = SAMPLE_TICKS if name == SAMPLE else Path(head[len(FILE) + 1 :])
        if name == FILE and not head[len(FILE) + 1 :]:
            msg = f"file source needs a path: file:PATH ({_USAGE})"
            raise SourceError(msg)
        given = {**_REPLAY_DEFAULTS[name], **options}
        return FileReplay(
            path,
            symbols=chosen,
            speed=speed if speed is not None else _speed(given["speed"]),
            loop=loop if loop is not None else _flag(given["loop"]),
            times=times if times is not None else _times(given["times"]),
            name=name,
        )
    if speed is not None or loop is not None or times is not None:
        msg = f"speed, loop and times apply to file replays, not to the {name} feed"
        raise SourceError(msg)
    base = url or options.get("url") or DEFAULT_URLS[name]
    if name == BINANCE:
        venue: Binance | Coinbase = Binance(base, stream=options.get("stream", "trade"))
    else:
        venue = Coinbase(base)
    return WebSocketSource(venue, chosen, connection)
