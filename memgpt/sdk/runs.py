"""Runs, steps and window control for ``memgpt.MemGPT`` (``LocalRuns``) and ``memgpt.Client``
(``ClientRuns``): the AgentService methods of ``memgpt.services.runs``, blocking.

An async send made through MemGPT runs in MemGPT's own event loop thread while it is open.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from memgpt.core.schemas import AgentState, Message
from memgpt.memory.runs import Compaction, Run, StepInfo

T = TypeVar("T")
Feedback = Literal["positive", "negative"]


def _q(part: str) -> str:
    return quote(part, safe="")


class LocalRuns:
    """Runs on the local service (MemGPT mixes this in)."""

    service: Any

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError

    def send_async(
        self, agent: str, text: str, *, role: Literal["user", "event"] = "user",
        callback_url: str | None = None, metadata: dict[str, Any] | None = None,
        request_config: dict[str, Any] | None = None,
    ) -> Run:
        """Queue an input; its run comes back at once and runs in the background, in order."""
        run: Run = self._run(self.service.send_async(
            agent, text, role=role, callback_url=callback_url, metadata=metadata, request_config=request_config))
        return run

    def get_run(self, run_id: str) -> Run:
        """One run."""
        run: Run = self._run(self.service.get_run(run_id))
        return run

    def list_runs(
        self, agent: str | None = None, *, statuses: list[str] | None = None, background: bool | None = None,
        before: str | None = None, after: str | None = None, limit: int = 50, ascending: bool = False,
    ) -> list[Run]:
        """Runs, newest first unless ``ascending``."""
        runs: list[Run] = self._run(self.service.list_runs(
            agent, statuses=statuses, background=background, before=before, after=after, limit=limit,
            ascending=ascending))
        return runs

    def run_messages(self, run_id: str, *, after_seq: int | None = None, limit: int = 1000) -> list[Message]:
        """The messages a run wrote, its input first."""
        found: list[Message] = self._run(self.service.run_messages(run_id, after_seq=after_seq, limit=limit))
        return found

    def cancel_runs(self, agent: str, run_ids: list[str] | None = None) -> dict[str, str]:
        """Cancel the agent's active runs (or those named)."""
        done: dict[str, str] = self._run(self.service.cancel_runs(agent, run_ids))
        return done

    def list_steps(
        self, *, agent: str | None = None, run_id: str | None = None, feedback: Feedback | None = None,
        before: str | None = None, after: str | None = None, limit: int = 50, ascending: bool = False,
    ) -> list[StepInfo]:
        """Step records, newest first unless ``ascending``."""
        steps: list[StepInfo] = self._run(self.service.list_steps(
            agent=agent, run_id=run_id, feedback=feedback, before=before, after=after, limit=limit,
            ascending=ascending))
        return steps

    def get_step(self, step_id: str) -> StepInfo:
        """One step record."""
        step: StepInfo = self._run(self.service.get_step(step_id))
        return step

    def set_step_feedback(self, step_id: str, feedback: Feedback | None, tags: list[str] | None = None) -> StepInfo:
        """Store feedback (and tags) on a step."""
        step: StepInfo = self._run(self.service.set_step_feedback(step_id, feedback, tags))
        return step

    def reset_messages(self, agent: str, *, add_default_initial_messages: bool = False) -> AgentState:
        """A new window: recall keeps every message, the summary goes."""
        state: AgentState = self._run(self.service.reset_messages(
            agent, add_default_initial_messages=add_default_initial_messages))
        return state

    def compact(self, agent: str) -> Compaction:
        """Evict the window into the recursive summary now."""
        done: Compaction = self._run(self.service.compact(agent))
        return done

    def recompile(self, agent: str, *, dry_run: bool = False, update_timestamp: bool = False) -> str:
        """Rebuild the system message from current memory; returns it."""
        system: str = self._run(self.service.recompile(agent, dry_run=dry_run, update_timestamp=update_timestamp))
        return system


class ClientRuns:
    """Runs over HTTP (Client mixes this in)."""

    def _get(self, kind: type[T] | Any, method: str, path: str, **kwargs: Any) -> T:
        raise NotImplementedError

    def send_async(
        self, agent: str, text: str, *, role: Literal["user", "event"] = "user",
        callback_url: str | None = None, metadata: dict[str, Any] | None = None,
        request_config: dict[str, Any] | None = None,
    ) -> Run:
        """Queue an input; its run comes back at once and runs in the background, in order."""
        body = {"text": text, "role": role, "callback_url": callback_url, "metadata": metadata,
                "request_config": request_config}
        return self._get(Run, "POST", f"/agents/{_q(agent)}/messages/async", json=body)

    def get_run(self, run_id: str) -> Run:
        """One run."""
        return self._get(Run, "GET", f"/runs/{_q(run_id)}")

    def list_runs(
        self, agent: str | None = None, *, statuses: list[str] | None = None, background: bool | None = None,
        before: str | None = None, after: str | None = None, limit: int = 50, ascending: bool = False,
    ) -> list[Run]:
        """Runs, newest first unless ``ascending``."""
        params = {"agent": agent, "statuses": statuses, "background": background, "before": before,
                  "after": after, "limit": limit, "ascending": ascending}
        return self._get(list[Run], "GET", "/runs", params={k: v for k, v in params.items() if v is not None})

    def run_messages(self, run_id: str, *, after_seq: int | None = None, limit: int = 1000) -> list[Message]:
        """The messages a run wrote, its input first."""
        params = {"after_seq": after_seq, "limit": limit}
        return self._get(list[Message], "GET", f"/runs/{_q(run_id)}/messages",
                         params={k: v for k, v in params.items() if v is not None})

    def cancel_runs(self, agent: str, run_ids: list[str] | None = None) -> dict[str, str]:
        """Cancel the agent's active runs (or those named)."""
        return self._get(dict[str, str], "POST", f"/agents/{_q(agent)}/cancel", json={"run_ids": run_ids})

    def list_steps(
        self, *, agent: str | None = None, run_id: str | None = None, feedback: Feedback | None = None,
        before: str | None = None, after: str | None = None, limit: int = 50, ascending: bool = False,
    ) -> list[StepInfo]:
        """Step records, newest first unless ``ascending``."""
        params = {"agent": agent, "run_id": run_id, "feedback": feedback, "before": before, "after": after,
                  "limit": limit, "ascending": ascending}
        return self._get(list[StepInfo], "GET", "/steps", params={k: v for k, v in params.items() if v is not None})

    def get_step(self, step_id: str) -> StepInfo:
        """One step record."""
        return self._get(StepInfo, "GET", f"/steps/{_q(step_id)}")

    def set_step_feedback(self, step_id: str, feedback: Feedback | None, tags: list[str] | None = None) -> StepInfo:
        """Store feedback (and tags) on a step."""
        return self._get(StepInfo, "PATCH", f"/steps/{_q(step_id)}/feedback",
                         json={"feedback": feedback, "tags": tags})

    def reset_messages(self, agent: str, *, add_default_initial_messages: bool = False) -> AgentState:
        """A new window: recall keeps every message, the summary goes."""
        return self._get(AgentState, "POST", f"/agents/{_q(agent)}/reset",
                         json={"add_default_initial_messages": add_default_initial_messages})

    def compact(self, agent: str) -> Compaction:
        """Evict the window into the recursive summary now."""
        return self._get(Compaction, "POST", f"/agents/{_q(agent)}/compact")

    def recompile(self, agent: str, *, dry_run: bool = False, update_timestamp: bool = False) -> str:
        """Rebuild the system message from current memory; returns it."""
        return self._get(str, "POST", f"/agents/{_q(agent)}/recompile",
                         json={"dry_run": dry_run, "update_timestamp": update_timestamp})
