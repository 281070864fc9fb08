"""The memgpt command line (Typer). Commands are thin adapters over AgentService."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from memgpt.chat import ChatSession, detect_model
from memgpt.demo import DEMO_INPUTS, DEMO_MODEL, demo_model
from memgpt.errors import MemGPTError
from memgpt.render import print_blocks, print_context, print_messages
from memgpt.service import AgentService
from memgpt.settings import Settings

T = TypeVar("T")
app = typer.Typer(help="LLM agents that manage their own memory.", no_args_is_help=True)
console = Console()
Home = Annotated[Path | None, typer.Option(help="Data directory (default: MEMGPT_HOME).")]


def _run(home: Path | None, job: Callable[[AgentService], Awaitable[T]]) -> T:
    settings = Settings(home=home) if home else Settings()

    async def main() -> T:
        async with AgentService(settings, models={DEMO_MODEL: demo_model()}) as svc:
            return await job(svc)

    try:
        return asyncio.run(main())
    except MemGPTError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc


@app.command()
def demo(home: Home = None, name: str = "demo") -> None:
    """Run an offline conversation with a scripted model that edits its own memory."""

    async def job(svc: AgentService) -> None:
        existing = {a.name for a in await svc.list_agents()}
        if name not in existing:
            await svc.create_agent(name, model=DEMO_MODEL)
        for line in DEMO_INPUTS:
            result = await svc.send_message(name, line)
            print_messages(console, [result.input, *result.messages])
            console.print()
        print_blocks(console, await svc.list_blocks(name))
        print_context(console, await svc.context_window(name))
        console.print(f"\nData lives in [bold]{svc.settings.home}[/].")

    _run(home, job)


@app.command()
def chat(
    home: Home = None,
    agent: Annotated[str | None, typer.Option(help="Agent name or id (created if new).")] = None,
    model: Annotated[str | None, typer.Option(help="provider/model[@base_url] for new agents.")] = None,
) -> None:
    """Talk to an agent in the terminal."""
    settings = Settings(home=home) if home else Settings()
    chosen = detect_model(model, settings.model)

    async def main() -> None:
        async with AgentService(settings, models={DEMO_MODEL: demo_model()}) as svc:
            session = ChatSession(svc, console, chosen)
            if not await session.open_agent(agent):
                raise typer.Exit(1)
            await session.run()

    try:
        asyncio.run(main())
    except MemGPTError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc


@app.command()
def agents(home: Home = None) -> None:
    """List agents."""
    for a in _run(home, lambda svc: svc.list_agents()):
        console.print(f"{a.name}  [dim]{a.id}  model={a.model}  window={a.context_window}[/]")


@app.command()
def memory(agent: str, home: Home = None) -> None:
    """Show an agent's core memory blocks."""
    print_blocks(console, _run(home, lambda svc: svc.list_blocks(agent)))


@app.command()
def context(agent: str, home: Home = None) -> None:
    """Show the tokens of each section of an agent's context window."""
    print_context(console, _run(home, lambda svc: svc.context_window(agent)))


@app.command()
def recall(agent: str, query: str, home: Home = None, limit: int = 10) -> None:
    """Search an agent's recall memory (every message)."""
    page = _run(home, lambda svc: svc.search_messages(agent, query, limit=limit))
    console.print(f"{page.total} matches")
    print_messages(console, page.items)


@app.command()
def archival(agent: str, query: str, home: Home = None, limit: int = 10) -> None:
    """Search an agent's archival memory."""
    for p in _run(home, lambda svc: svc.search_passages(agent, query, limit=limit)):
        console.print(f"- {p.text}  [dim]{p.id}[/]", highlight=False)


if __name__ == "__main__":
    app()
