"""A turn costs a handful of writes and no reads: the agent, its tools and its window are
kept between turns, and a new agent is kept from its creation (so its first turn reads
nothing either). Counted with SQLAlchemy's cursor events on the real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.llm.scripted import reply


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement run meanwhile, in any engine."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


async def test_turns_read_nothing_from_the_first_on(settings: Settings) -> None:
    model = ScriptedModel(policy=lambda request: reply("noted"))
    async with AgentService(settings, models={"m": model}) as svc:
        agent = await svc.create_agent("a", model="m")
        for n in range(3):
            await svc.kernel.drain()  # the previous turn's background embedding is not the turn's
            with statements() as seen:
                result = await svc.send_message(agent.id, f"message {n}")
            assert result.steps
            reads = [s for s in seen if s.upper().startswith("SELECT")]
            assert reads == [], (n, reads)
            writes = [s for s in seen if not s.upper().startswith(("BEGIN", "COMMIT", "SELECT"))]
            assert len(writes) <= 12, (n, writes)
