"""Agent overhead per request: ``Agent.answer`` (graph, Redis checkpoints after every step,
streaming through a sink) against the raw ``openai`` client streaming the same scripted answer
from the same local OpenAI-compatible stand-in, in the same run. The difference is the time the
agent spends outside the model.

    python -m benchmarks.agent [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence

from openai import AsyncOpenAI
from redis.asyncio import Redis

from agent import AgentFactory, LLMEndpoint, Ports
from benchmarks._stack import bench_settings, result_line
from infra.runtime import tune_gc
from infra.stack.standins import OpenAIStandIn
from schemas import ChatMessageReceivedV1, ToolCall

ANSWER = "BTCUSDT trades at 64,123.5 USDT; it moved 1.2% in the last hour. " * 3
MODEL = "stand-in"


class NullSink:
    """A sink that only counts what it is given (the Kafka sink's cost is the backbone's)."""

    def __init__(self) -> None:
        self.deltas = 0

    async def delta(self, text: str, seq: int) -> None:
        self.deltas += 1

    async def tool_called(self, call: ToolCall) -> None:
        return None

    async def completed(self, text: str, tool_calls: Sequence[ToolCall]) -> None:
        return None


async def main(n: int) -> None:
    tune_gc()
    with bench_settings("agent") as settings, OpenAIStandIn() as model:
        redis: Redis = Redis.from_url(settings.redis_url)
        agent = AgentFactory(redis=redis, key_prefix=settings.topic_prefix).build(
            "market-assistant",
            llm=LLMEndpoint(base_url=model.base_url, api_key="bench", model=MODEL),
        )
        client = AsyncOpenAI(base_url=model.base_url, api_key="bench", max_retries=0)

        async def raw() -> None:
            stream = await client.chat.completions.create(
                model=MODEL,
                stream=True,
                messages=[{"role": "user", "content": "price of BTC and its last hour"}],
            )
            async for _chunk in stream:
                pass

        async def ours() -> None:
            request = ChatMessageReceivedV1(
                session_id="bench",
                user_id="bench",
                channel="cli",
                text="price of BTC and its last hour",
            )
            await agent.answer(
                request,
                request_id=str(uuid.uuid4()),
                sink=NullSink(),
                ports=Ports(),  # the scripted answer calls no tool
            )

        async def timed(call: object, count: int) -> float:
            for _ in range(count):
                model.reply_text(ANSWER)
            started = time.perf_counter()
            for _ in range(count):
                await call()  # type: ignore[operator]
            return (time.perf_counter() - started) / count

        await timed(raw, 20)
        await timed(ours, 20)  # warm both paths
        raw_s = await timed(raw, n)
        ours_s = await timed(ours, n)
        await agent.aclose()
        await client.close()
        await redis.aclose()
        print(f"raw openai stream: {raw_s * 1e3:.2f} ms/request")
        print(
            f"Agent.answer:      {ours_s * 1e3:.2f} ms/request "
            f"(overhead outside the model: {(ours_s - raw_s) * 1e3:.2f} ms)"
        )
        print(result_line("agent", 1 / ours_s, 1 / raw_s, "requests/s"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    asyncio.run(main(parser.parse_args().requests))
