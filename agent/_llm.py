"""The chat model over any OpenAI-compatible Chat Completions API (OpenAI, vLLM, Ollama...).

Streaming: text deltas go to the caller as they arrive; streamed tool-call fragments are
accumulated by their ``index`` into whole calls. Failures are mapped to our tree at this edge:
unreachable, timed out, rate-limited or 5xx after retries -> :class:`ModelUnavailable`
(transient); any other refusal -> :class:`ModelRejected` (permanent).

Retries are bounded twice over: the ``openai`` client retries a request that failed before any
byte came back (``max_retries``); around it, a whole round is retried (``retries`` times, with
exponential backoff) only if it failed before any text was streamed, so the caller never sees
the same text twice within one step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolUnionParam
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from agent._errors import ModelRejected, ModelUnavailable
from agent._messages import Message, ModelReply, ToolRequest
from agent._types import DeltaCallback, ToolSpec

log = logging.getLogger(__name__)

NO_KEY: Final = "no-key"
"""Sent as the API key to servers that need none (Ollama, vLLM without auth)."""
RETRYABLE_STATUS: Final = frozenset({408, 409, 425, 429})


class LLMOptions(BaseModel):
    """How an agent talks to its model (the ``llm:`` section of an agent's YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(default="", description="Default model when the settings name none")
    temperature: float | None = Field(default=0.2, ge=0, le=2)
    stream: bool = True
    request_timeout_s: float = Field(default=30.0, gt=0, description="Per HTTP request/read")
    round_timeout_s: float = Field(default=120.0, gt=0, description="Per whole model round")
    max_retries: int = Field(default=2, ge=0, le=10, description="The openai client's retries")
    retries: int = Field(default=1, ge=0, le=10, description="Our retries of a whole round")
    retry_backoff_s: float = Field(default=0.5, ge=0)
    max_tool_rounds: int = Field(default=4, ge=0, le=50)


@dataclass(frozen=True, slots=True)
class LLMEndpoint:
    """Where the model is: from settings (``IXO_LLM_BASE_URL``, ``_API_KEY``, ``_MODEL``).

    The model is used when a model name is known and a base URL or a key is given; otherwise
    the agent runs its offline command planner.
    """

    base_url: str = ""
    api_key: str | SecretStr = field(default="", repr=False)
    model: str = ""

    def key(self) -> str:
        value = self.api_key
        return value.get_secret_value() if isinstance(value, SecretStr) else value

    def configured(self, default_model: str = "") -> bool:
        return bool(self.model or default_model) and bool(self.base_url or self.key())


@dataclass(slots=True)
class _PartialCall:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


def to_openai(messages: Sequence[Message]) -> list[ChatCompletionMessageParam]:
    """Our messages in the Chat Completions request format."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content})
        elif m.role == "assistant" and m.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    "content": m.content,
                    "tool_calls": [
                        {
                            "id": c.call_id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        }
                        for c in m.tool_calls
                    ],
                }
            )
        else:
            out.append({"role": m.role, "content": m.content or ""})
    return cast("list[ChatCompletionMessageParam]", out)


class OpenAIChatModel:
    """:class:`ChatModel` over ``openai.AsyncOpenAI``."""

    def __init__(
        self,
        endpoint: LLMEndpoint,
        options: LLMOptions | None = None,
        *,
        client: AsyncOpenAI | None = None,
    ) -> None:
        self.options = options or LLMOptions()
        self.model = endpoint.model or self.options.model
        if not self.model:
            msg = "no model name: set IXO_LLM_MODEL or llm.model in the agent's configuration"
            raise ModelRejected(msg)
        self.base_url = endpoint.base_url or "https://api.openai.com/v1"
        self._client = client or AsyncOpenAI(
            base_url=endpoint.base_url or None,
            api_key=endpoint.key() or NO_KEY,
            timeout=self.options.request_timeout_s,
            max_retries=self.options.max_retries,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], on_delta: DeltaCallback
    ) -> ModelReply:
        attempt = 0
        while True:
            streamed = False

            async def tracked(text: str) -> None:
                nonlocal streamed
                streamed = True
                await on_delta(text)

            try:
                async with asyncio.timeout(self.options.round_timeout_s):
                    if self.options.stream:
                        return await self._stream(messages, tools, tracked)
                    return await self._once(messages, tools, tracked)
            except (openai.APIError, TimeoutError) as exc:
                failure = self._classify(exc)
                if isinstance(failure, ModelRejected):
                    raise failure from exc
                if streamed or attempt >= self.options.retries:
                    raise failure from exc
                attempt += 1
                delay = self.options.retry_backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "model round failed, retrying",
                    extra={"model": self.model, "attempt": attempt, "error": str(failure)},
                )
                await asyncio.sleep(delay)

    def _classify(self, exc: Exception) -> ModelUnavailable | ModelRejected:
        where = f"model {self.model} at {self.base_url}"
        if isinstance(exc, TimeoutError):
            return ModelUnavailable(
                f"{where}: no complete answer within {self.options.round_timeout_s}s"
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            body = exc.body
            reason = body.get("message") if isinstance(body, dict) else None
            text = reason if isinstance(reason, str) and reason else exc.message
            if status >= 500 or status in RETRYABLE_STATUS:
                return ModelUnavailable(f"{where}: HTTP {status}: {text}")
            return ModelRejected(f"{where} refused the request: HTTP {status}: {text}")
        if isinstance(exc, openai.APIConnectionError):
            return ModelUnavailable(f"{where} unreachable: {exc}")
        return ModelUnavailable(f"{where}: {exc}")

    def _request(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.model, "messages": to_openai(messages)}
        if tools:
            request["tools"] = cast("list[ChatCompletionToolUnionParam]", list(tools))
        if self.options.temperature is not None:
            request["temperature"] = self.options.temperature
        return request

    async def _stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], on_delta: DeltaCallback
    ) -> ModelReply:
        text: list[str] = []
        calls: dict[int, _PartialCall] = {}
        finish: str | None = None
        stream = await self._client.chat.completions.create(
            **self._request(messages, tools), stream=True
        )
        async with stream:
            async for chunk in stream:
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                    await on_delta(delta.content)
                for fragment in delta.tool_calls or ():
                    # Some servers omit ``index``: a fragment with an id starts a new call.
                    index = getattr(fragment, "index", None)
                    if not isinstance(index, int):
                        index = len(calls) if fragment.id or not calls else max(calls)
                    partial = calls.setdefault(index, _PartialCall())
                    if fragment.id:
                        partial.call_id = fragment.id
                    if fragment.function is not None:
                        if fragment.function.name and not partial.name:
                            partial.name = fragment.function.name
                        if fragment.function.arguments:
                            partial.arguments.append(fragment.function.arguments)
                if choice.finish_reason:
                    finish = choice.finish_reason
        requests = tuple(
            ToolRequest(
                index=i,
                call_id=p.call_id,
                name=p.name,
                arguments="".join(p.arguments),
            )
            for i, (_, p) in enumerate(sorted(calls.items()))
        )
        return ModelReply(text="".join(text), tool_calls=requests, finish_reason=finish)

    async def _once(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], on_delta: DeltaCallback
    ) -> ModelReply:
        completion = await self._client.chat.completions.create(
            **self._request(messages, tools), stream=False
        )
        if not completion.choices:
            return ModelReply()
        choice = completion.choices[0]
        content = choice.message.content or ""
        if content:
            await on_delta(content)
        requests = []
        for i, call in enumerate(choice.message.tool_calls or ()):
            function = getattr(call, "function", None)
            if function is None:  # a custom (non-function) tool call: not ours
                continue
            requests.append(
                ToolRequest(
                    index=i,
                    call_id=call.id or "",
                    name=function.name,
                    arguments=function.arguments or "{}",
                )
            )
        return ModelReply(
            text=content, tool_calls=tuple(requests), finish_reason=choice.finish_reason
        )
