"""``memgpt runs`` (list, show, cancel an agent's runs) and ``memgpt window`` (reset, compact,
recompile an agent's context window). Like the rest of the CLI, only typer, rich and
memgpt.core.errors load at start-up; each command imports the service itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from memgpt.cli.common import Home, _run

if TYPE_CHECKING:
    from memgpt.services.service import AgentService

T = TypeVar("T")
runs_app = typer.Typer(help="Runs: every input an agent handled (or has queued).", no_args_is_help=True)
window_app = typer.Typer(help="An agent's context window: reset, compact, recompile.", no_args_is_help=True)
console = Console()


@runs_app.command("list")
def runs_list(
    agent: Annotated[str | None, typer.Argument(help="Only this agent's runs.")] = None, home: Home = None,
    active: Annotated[bool, typer.Option(help="Only runs created or running.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
) -> None:
    """List runs, newest first: id, agent, status, stop reason, steps, tokens, input."""
    statuses = ["created", "running"] if active else None
    runs = _run(home, lambda svc: svc.list_runs(agent, statuses=statuses, limit=limit))
    for r in runs:
        tokens = r.usage.prompt_tokens + r.usage.completion_tokens
        console.print(f"{r.id}  {r.agent_id}  {r.status.value:<9} {r.stop_reason or '-':<13} "
                      f"{r.step_count} steps {tokens} tokens  {r.input_text[:50]!r}", highlight=False)


@runs_app.command("show")
def runs_show(run_id: str, home: Home = None) -> None:
    """Show one run as JSON, and its messages."""
    async def job(svc: AgentService) -> tuple[str, list[str]]:
        run = await svc.get_run(run_id)
        messages = await svc.run_messages(run_id)
        return run.model_dump_json(indent=2), [f"{m.seq:>5} {m.role.value:<9} {m.text[:100]}" for m in messages]

    shown, lines = _run(home, job)
    console.print(shown, highlight=False)
    for line in lines:
        console.print(line, highlight=False, markup=False)


@runs_app.command("cancel")
def runs_cancel(
    agent: str, run_ids: Annotated[list[str] | None, typer.Argument(help="These runs (default: all active).")] = None,
    home: Home = None,
) -> None:
    """Cancel AGENT's active runs: queued ones at once, a running one after its current step."""
    done = _run(home, lambda svc: svc.cancel_runs(agent, run_ids or None))
    console.print("\n".join(f"{k}  {v}" for k, v in done.items()) or "no active runs", highlight=False)


@window_app.command("reset")
def window_reset(
    agent: str, home: Home = None,
    initial_message: Annotated[bool, typer.Option(help="Open the new window with a notice to the agent.")] = False,
) -> None:
    """Start a new window for AGENT: recall keeps every message, the summary goes."""
    state = _run(home, lambda svc: svc.reset_messages(agent, add_default_initial_messages=initial_message))
    console.print(f"{state.name}: new window from message {state.context_start}", highlight=False)


@window_app.command("compact")
def window_compact(agent: str, home: Home = None) -> None:
    """Evict AGENT's window into its recursive summary now; prints the summary."""
    done = _run(home, lambda svc: svc.compact(agent))
    console.print(f"{done.num_messages_before} -> {done.num_messages_after} messages in context", highlight=False)
    console.print(done.summary, highlight=False, markup=False)


@window_app.command("recompile")
def window_recompile(
    agent: str, home: Home = None,
    dry_run: Annotated[bool, typer.Option(help="Only show it; change nothing.")] = False,
) -> None:
    """Rebuild AGENT's system message from current memory and print it."""
    console.print(_run(home, lambda svc: svc.recompile(agent, dry_run=dry_run)), highlight=False, markup=False)
