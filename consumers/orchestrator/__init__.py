"""The agent orchestrator consumer: chat requests in, streamed answers and tool calls out.

Wiring only (``consumers.orchestrator.app``); the agent itself is the :mod:`agent` library.
"""
