"""``memgpt conversations``: several threads with one agent, each with its own window and
summary over the agent's core and archival memory. Like the rest of the CLI, only typer, rich
and memgpt.core.errors load at start-up; each command imports the service itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from memgpt.cli.common import Home, _run

if TYPE_CHECKING:
    pass

T = TypeVar("T")
conversations_app = typer.Typer(help="Threads with an agent: their own window and summary, one core memory.",
                                no_args_is_help=True)
console = Console()


@conversations_app.command("new")
def conversations_new(
    agent: str, home: Home = None,
    description: Annotated[str | None, typer.Option(help="What the conversation is about.")] = None,
) -> None:
    """Start a conversation with AGENT; prints its id."""
    made = _run(home, lambda svc: svc.create_conversation(agent, description=description))
    console.print(made.id, highlight=False)


@conversations_app.command("list")
def conversations_list(
    agent: Annotated[str | None, typer.Argument(help="Only this agent's.")] = None, home: Home = None,
    archived: Annotated[bool, typer.Option(help="The archived ones instead.")] = False,
) -> None:
    """List conversations, newest first: id, agent, last message, description."""
    found = _run(home, lambda svc: svc.list_conversations(
        agent=agent, archive_status="archived" if archived else "unarchived", limit=1000))
    for c in found:
        last = f"{c.last_message_at:%Y-%m-%d %H:%M}" if c.last_message_at else "-"
        console.print(f"{c.id}  {c.agent_id}  last {last}  [dim]{c.description or ''}[/]", highlight=False)
    if not found:
        console.print("no conversations")


@conversations_app.command("fork")
def conversations_fork(
    conversation: str, home: Home = None,
    message_id: Annotated[str | None, typer.Option(help="Copy the window up to this message only.")] = None,
) -> None:
    """Start a new conversation with a copy of CONVERSATION's window; prints its id."""
    made = _run(home, lambda svc: svc.fork_conversation(conversation, message_id=message_id))
    console.print(made.id, highlight=False)


@conversations_app.command("send")
def conversations_send(conversation: str, text: str, home: Home = None) -> None:
    """Send TEXT in CONVERSATION and print the agent's replies."""
    result = _run(home, lambda svc: svc.send_conversation_message(conversation, text))
    for line in result.replies:
        console.print(line, highlight=False)


@conversations_app.command("messages")
def conversations_messages(
    conversation: str, home: Home = None,
    limit: Annotated[int, typer.Option(help="How many of the newest.")] = 20,
) -> None:
    """Print CONVERSATION's newest messages."""
    from memgpt.cli.render import print_messages

    print_messages(console, _run(home, lambda svc: svc.conversation_messages(conversation, limit=limit)))


@conversations_app.command("compact")
def conversations_compact(conversation: str, home: Home = None) -> None:
    """Evict CONVERSATION's window into its summary now; prints the summary."""
    done = _run(home, lambda svc: svc.compact_conversation(conversation))
    console.print(f"{done.num_messages_before} -> {done.num_messages_after} messages in context", highlight=False)
    console.print(done.summary, highlight=False)


@conversations_app.command("delete")
def conversations_delete(conversation: str, home: Home = None) -> None:
    """Delete CONVERSATION (its messages stay in the agent's recall)."""
    _run(home, lambda svc: svc.delete_conversation(conversation))
    console.print(f"deleted {conversation}", highlight=False)
