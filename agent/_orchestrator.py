"""``AgentOrchestrator``: runs a graph of nodes over an :class:`AgentState`, checkpointing after
every step, so a run that crashed (same request id) resumes from its last checkpoint.

What a resume repeats, and why it is safe:
- the step that was running when the crash came runs again from the state before it: a model
  round is asked again (its deltas are streamed again from the checkpointed ``seq``); tool
  calls run again with the same call indexes, hence the same idempotency keys, and side-effect
  results come back from the tool-result cache;
- a request whose checkpoint says it finished is not run again: nothing is emitted twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from agent._errors import AgentConfigError, StaleCheckpoint, StepLimitExceeded
from agent._node import BaseNode, RunContext
from agent._state import END, AgentState
from agent._types import CheckpointStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """The final state; ``resumed``: continued from a checkpoint; ``replayed``: the request had
    already finished, nothing ran."""

    state: AgentState
    resumed: bool = False
    replayed: bool = False


class AgentOrchestrator:
    """Routes between nodes until one returns ``END``; checkpoints after each step."""

    def __init__(
        self,
        *,
        graph: str,
        nodes: Mapping[str, BaseNode],
        entry: str,
        checkpoints: CheckpointStore,
        max_steps: int = 32,
    ) -> None:
        self.graph = graph
        self.nodes = dict(nodes)
        self.entry = entry
        self.checkpoints = checkpoints
        self.max_steps = max_steps
        self._check()

    def _check(self) -> None:
        if self.entry not in self.nodes:
            msg = (
                f"graph {self.graph!r}: entry node {self.entry!r} is not one of {list(self.nodes)}"
            )
            raise AgentConfigError(msg)
        for name, node in self.nodes.items():
            for target in node.successors():
                if target != END and target not in self.nodes:
                    msg = f"graph {self.graph!r}: node {name!r} routes to unknown node {target!r}"
                    raise AgentConfigError(msg)

    async def run(self, initial: AgentState, ctx: RunContext) -> RunOutcome:
        """Run (or resume, or skip if finished) the request ``initial.request_id``."""
        saved = await self.checkpoints.load(initial.request_id)
        resumed = False
        if saved is not None and saved.graph == self.graph and saved.done:
            log.info("request already answered", extra={"request_id": saved.request_id})
            return RunOutcome(saved, resumed=True, replayed=True)
        if saved is not None and saved.graph == self.graph and saved.node in self.nodes:
            state, resumed = saved, True
            log.info(
                "resuming request",
                extra={"request_id": saved.request_id, "node": saved.node, "step": saved.step},
            )
        else:
            # New request (or one checkpointed by another graph: start over, keeping the step
            # counter and call indexes so the checkpoint compare-and-set and idempotency hold).
            state = initial.model_copy(
                update={
                    "graph": self.graph,
                    "node": self.entry,
                    "step": saved.step if saved else 0,
                    "next_call_index": saved.next_call_index if saved else 0,
                }
            )
        first = state.step
        while not state.done:
            if state.step - first >= self.max_steps:
                msg = (
                    f"request {state.request_id}: more than {self.max_steps} steps "
                    f"(at node {state.node!r})"
                )
                raise StepLimitExceeded(msg)
            node = self.nodes.get(state.node)
            if node is None:
                msg = f"graph {self.graph!r} has no node {state.node!r}"
                raise AgentConfigError(msg)
            result = await node.execute(state, ctx)
            if result.next != END and result.next not in self.nodes:
                msg = f"node {node.name!r} routed to unknown node {result.next!r}"
                raise AgentConfigError(msg)
            state = result.state
            if not await self.checkpoints.save(state):
                msg = f"request {state.request_id}: a newer checkpoint exists (another run)"
                raise StaleCheckpoint(msg)
            log.debug(
                "agent step",
                extra={"request_id": state.request_id, "node": node.name, "next": state.node},
            )
        return RunOutcome(state, resumed=resumed)
