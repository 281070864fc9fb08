"""Rich rendering of agent activity, shared by the CLI commands."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from memgpt.core.schemas import Block, ContextReport, Message, Role


def _args(arguments: str) -> str:
    try:
        args = json.loads(arguments)
    except json.JSONDecodeError:
        return arguments
    if isinstance(args, dict):
        args.pop("request_heartbeat", None)
        return ", ".join(f"{k}={v!r}" for k, v in args.items())
    return arguments


def print_messages(console: Console, messages: list[Message]) -> None:
    """Inner monologue dimmed, tool calls compact, replies clear."""
    for m in messages:
        if m.role is Role.USER:
            console.print(f"[bold cyan]you[/] {m.text}", highlight=False)
        elif m.role is Role.EVENT:
            console.print(f"[dim yellow]event: {m.text}[/]", highlight=False)
        elif m.role is Role.ASSISTANT:
            if m.reasoning:
                console.print(f"[dim italic]  thinking: {m.reasoning}[/]", highlight=False)
            for call in m.tool_calls:
                if call.name != "send_message":
                    console.print(f"[magenta]  ⚙ {call.name}({_args(call.arguments)})[/]", highlight=False)
            for said in m.sent_messages():
                console.print(f"[bold green]agent[/] {said}", highlight=False)
        elif m.role is Role.TOOL:
            for r in m.tool_results:
                if r.name == "send_message":
                    continue
                style = "red" if r.is_error else "dim"
                first = r.content.splitlines()[0] if r.content else ""
                console.print(f"[{style}]    → {first}[/]", highlight=False)


def print_blocks(console: Console, blocks: list[Block]) -> None:
    """Core memory blocks as a table."""
    table = Table(title="core memory", show_lines=True)
    table.add_column("label")
    table.add_column("value")
    table.add_column("chars", justify="right")
    for b in blocks:
        table.add_row(b.label + (" (read-only)" if b.read_only else ""), b.value, f"{len(b.value)}/{b.limit}")
    console.print(table)


def print_context(console: Console, report: ContextReport) -> None:
    """The context window's token breakdown."""
    table = Table(title=f"context window: {report.total} / {report.context_window} tokens")
    table.add_column("section")
    table.add_column("tokens", justify="right")
    table.add_column("share", justify="right")
    for name, tokens in report.sections.items():
        table.add_row(name, str(tokens), f"{100 * tokens / report.context_window:.1f}%")
    console.print(table)
    console.print(
        f"{report.in_context_messages} messages in view, {report.recall_messages} in recall, "
        f"{report.archival_passages} passages in archival memory"
    )
