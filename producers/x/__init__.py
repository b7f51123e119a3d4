"""The X source: the X API v2 (recent search for configured queries and user timelines) or a
JSONL file, published as ``ixo.social.post.scraped.v1`` events keyed by post id on
``ixo.social.posts``, with the market symbols each post's cashtags name.

Rate limits are planned (:class:`RateLimitPlanner`), checkpoints kept in Redis and advanced only
after Kafka acknowledged the posts they cover (:class:`XSource`); ``ixo run x-source`` runs
:func:`run_x_source`.
"""

from producers.x._cashtags import extract_symbols
from producers.x._checkpoint import Checkpoints, Progress, RedisCheckpoints
from producers.x._client import XApiError, XClient
from producers.x._events import post_event, post_url
from producers.x._file import SAMPLE_POSTS, XFileError, load_posts
from producers.x._planner import RateLimitPlanner, Window
from producers.x._run import XSourceError, file_of, run_x_source, streams_of
from producers.x._source import XSource, publish_posts
from producers.x._types import Clock, Page, Post, Stream, SystemClock

__all__ = [
    "SAMPLE_POSTS",
    "Checkpoints",
    "Clock",
    "Page",
    "Post",
    "Progress",
    "RateLimitPlanner",
    "RedisCheckpoints",
    "Stream",
    "SystemClock",
    "Window",
    "XApiError",
    "XClient",
    "XFileError",
    "XSource",
    "XSourceError",
    "extract_symbols",
    "file_of",
    "load_posts",
    "post_event",
    "post_url",
    "publish_posts",
    "run_x_source",
    "streams_of",
]
