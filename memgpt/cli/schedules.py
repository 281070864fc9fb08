"""``memgpt schedule``: messages an agent receives at a time or on a cron (``memgpt server``
delivers them while it runs). Like the rest of the CLI, only typer, rich and
memgpt.core.errors load at start-up; each command imports the service itself."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from memgpt.cli.common import Home, _run

if TYPE_CHECKING:
    pass

T = TypeVar("T")
schedule_app = typer.Typer(help="Messages an agent receives at a time or on a cron (UTC).", no_args_is_help=True)
console = Console()


@schedule_app.command("add")
def schedule_add(
    agent: str, text: str, home: Home = None,
    at: Annotated[datetime | None, typer.Option(help="Once, at this time (UTC unless it says).")] = None,
    in_seconds: Annotated[float | None, typer.Option("--in", help="Once, this many seconds from now.")] = None,
    cron: Annotated[str | None, typer.Option(help="On this cron expression (UTC), e.g. '0 9 * * *'.")] = None,
    system: Annotated[bool, typer.Option(help="Deliver it as a system event, not a user message.")] = False,
) -> None:
    """Schedule TEXT for AGENT once (--at or --in) or on a --cron; prints its id and next time."""
    from datetime import timedelta

    from memgpt.core.schemas import utcnow
    from memgpt.memory.schedules import ScheduledInput

    if in_seconds is not None:
        at = utcnow() + timedelta(seconds=in_seconds)
    message = ScheduledInput(role="system" if system else "user", text=text)
    made = _run(home, lambda svc: svc.create_schedule(agent, [message], at=at, cron=cron))
    when = f"{made.next_at:%Y-%m-%d %H:%M:%S} UTC" if made.next_at else "never"
    console.print(f"{made.id}  next: {when}", highlight=False)


@schedule_app.command("list")
def schedule_list(agent: str, home: Home = None) -> None:
    """List AGENT's schedules: id, when, next time, firings, the message."""
    page = _run(home, lambda svc: svc.list_schedules(agent, limit=1000))
    for s in page.items:
        rule = s.cron if s.kind == "recurring" else "once"
        when = f"{s.next_at:%Y-%m-%d %H:%M:%S}" if s.next_at else "-"
        text = "; ".join(m.text for m in s.messages)
        preview = text if len(text) <= 50 else text[:47] + "..."
        error = f"  [red]{s.last_error}[/]" if s.last_error else ""
        console.print(f"{s.id}  {rule}  next {when}  fired {s.firings}x  [dim]{preview}[/]{error}", highlight=False)
    if not page.items:
        console.print("no schedules")


@schedule_app.command("delete")
def schedule_delete(agent: str, schedule_id: str, home: Home = None) -> None:
    """Delete one of AGENT's schedules: it fires no more."""
    _run(home, lambda svc: svc.delete_schedule(agent, schedule_id))
    console.print(f"deleted {schedule_id}")
