"""The memgpt command line (Typer). Commands are thin adapters over AgentService."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from memgpt.cli.common import Home, _run, _settings
from memgpt.cli.conversations import conversations_app
from memgpt.cli.folders import folders_app
from memgpt.cli.mcp import mcp_app
from memgpt.cli.resources import archives_app, identities_app
from memgpt.cli.runs import runs_app, window_app
from memgpt.cli.schedules import schedule_app
from memgpt.core.errors import MemGPTError

# Only typer, rich and memgpt.core.errors load at start-up (not even asyncio), so `memgpt --help`
# stays fast: each command imports the service (and with it storage, embeddings, providers) itself.
if TYPE_CHECKING:
    from memgpt.services.service import AgentService

T = TypeVar("T")
app = typer.Typer(help="LLM agents that manage their own memory.", no_args_is_help=True)
console = Console()


@app.command()
def demo(home: Home = None, name: str = "demo") -> None:
    """Run an offline conversation with a scripted model that edits its own memory."""
    from memgpt.cli.render import print_blocks, print_context, print_messages
    from memgpt.llm.demo import DEMO_INPUTS, DEMO_MODEL

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
    import asyncio

    from memgpt.cli.chat import ChatSession, detect_model
    from memgpt.services.service import default_service

    settings = _settings(home)
    chosen = detect_model(model, settings.model)

    async def main() -> None:
        async with default_service(settings) as svc:
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
    from memgpt.cli.render import print_blocks

    print_blocks(console, _run(home, lambda svc: svc.list_blocks(agent)))


@app.command()
def context(agent: str, home: Home = None) -> None:
    """Show the tokens of each section of an agent's context window."""
    from memgpt.cli.render import print_context

    print_context(console, _run(home, lambda svc: svc.context_window(agent)))


@app.command()
def recall(agent: str, query: str, home: Home = None, limit: int = 10) -> None:
    """Search an agent's recall memory (every message)."""
    from memgpt.cli.render import print_messages

    page = _run(home, lambda svc: svc.search_messages(agent, query, limit=limit))
    console.print(f"{page.total} matches")
    print_messages(console, page.items)


@app.command()
def archival(agent: str, query: str, home: Home = None, limit: int = 10) -> None:
    """Search an agent's archival memory."""
    for p in _run(home, lambda svc: svc.search_passages(agent, query, limit=limit)):
        console.print(f"- {p.text}  [dim]{p.id}[/]", highlight=False)


@app.command()
def load(
    agent: str,
    path: Path,
    home: Home = None,
    chunk_tokens: Annotated[int, typer.Option(help="Tokens per passage.")] = 300,
    overlap: Annotated[int, typer.Option(help="Tokens a passage repeats from the one before.")] = 50,
    tag: Annotated[list[str] | None, typer.Option(help="Tag every passage (repeatable).")] = None,
) -> None:
    """Load .txt, .md, .pdf and .html files (or a directory of them) into archival memory.

    Safe to re-run: passages the agent already holds are not stored again.
    """
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
    )

    from memgpt.services.documents import LoadProgress, load_path

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("[dim]{task.fields[detail]}"), console=console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def show(p: LoadProgress) -> None:
            if p.stage not in tasks:
                label = "Reading files" if p.stage == "read" else "Storing passages"
                tasks[p.stage] = bar.add_task(label, total=p.total, detail="")
            bar.update(tasks[p.stage], completed=p.done, total=p.total, detail=escape(p.detail))

        report = _run(home, lambda svc: load_path(
            svc, agent, path, chunk_tokens=chunk_tokens, overlap=overlap, tags=tag or [],
            on_progress=show,
        ))
    for s in report.skipped:
        console.print(f"[yellow]skipped[/] {escape(f'{s.path}: {s.reason}')}", highlight=False)
    console.print(
        f"Loaded {len(report.files)} file(s) into {agent}: {report.chunks} passages, "
        f"{report.stored} stored, {report.duplicates} already present.",
        highlight=False, markup=False,
    )


@app.command()
def reembed(
    agent: str,
    home: Home = None,
    embedder: Annotated[str, typer.Option(help="local, hashing, openai[/MODEL], ollama/MODEL")] = "local",
    batch: int = 64,
    force: Annotated[bool, typer.Option(help="Re-embed passages already on this model.")] = False,
) -> None:
    """Re-embed an agent's archival passages and messages with an embedding model (resumable)."""
    import asyncio

    from memgpt.embeddings import embedder_from_spec
    from memgpt.services.reembed import reembed as run_reembed
    from memgpt.services.service import default_service

    settings = _settings(home)
    chosen = embedder_from_spec(embedder)

    async def main() -> int:
        async with default_service(settings, embedder=chosen) as svc:
            return await run_reembed(svc, agent, chosen, batch, force=force)

    try:
        count = asyncio.run(main())
    except MemGPTError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"Re-embedded {count} passages of {agent} with {chosen.name}")


@app.command("export")
def export_agent(
    agent: str,
    home: Home = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write ('-': standard output; default: NAME.af).")] = None,
    messages: Annotated[bool, typer.Option(help="Include the message history.")] = True,
    passages: Annotated[bool, typer.Option(help="Include archival memory.")] = True,
) -> None:
    """Export an agent as a Letta-compatible agent file (.af JSON)."""
    data = _run(home, lambda svc: svc.export_agent(agent, messages=messages, passages=passages))
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if output is not None and str(output) == "-":
        print(text)
        return
    path = output or Path(re.sub(r"[^\w.-]", "_", data["agents"][0]["name"]) + ".af")
    try:
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        console.print(f"[red]error:[/] cannot write {path}: {exc}")
        raise typer.Exit(1) from exc
    console.print(f"Exported {agent} to {path}", highlight=False, markup=False)


@app.command("import")
def import_agent(
    path: Path,
    home: Home = None,
    name: Annotated[str | None, typer.Option(help="Import under this name.")] = None,
    model: Annotated[str | None, typer.Option(help="Use this model instead of the file's.")] = None,
    strip_messages: Annotated[bool, typer.Option(help="Leave the message history out.")] = False,
) -> None:
    """Import an agent from an agent file (.af JSON, memgpt's or Letta's), with new ids."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        console.print(f"[red]error:[/] cannot read {path} as an agent file: {exc}", highlight=False)
        raise typer.Exit(1) from exc
    state = _run(home, lambda svc: svc.import_agent(data, name=name, model=model, strip_messages=strip_messages))
    console.print(f"Imported {state.name}  [dim]{state.id}[/]", highlight=False)


PriceIn = Annotated[float | None, typer.Option(help="USD per million input tokens (overrides the price table).")]
PriceOut = Annotated[float | None, typer.Option(help="USD per million output tokens.")]


@app.command("eval")
def eval_(
    task: Annotated[str, typer.Argument(help="locomo, dmr or nested-kv.")],
    model: Annotated[str | None, typer.Option(help="Model under test: provider/model[@base_url] "
                                              "(default: MEMGPT_MODEL).")] = None,
    judge_model: Annotated[str | None, typer.Option(help="Judge for locomo/dmr (default: --model).")] = None,
    data: Annotated[Path | None, typer.Option(help="locomo/dmr: a LoCoMo JSON file (required); nested-kv: "
                                              "a folder of the paper's files (default: generated).")] = None,
    limit: Annotated[int | None, typer.Option(help="At most N questions (nested-kv: N per level).")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("eval-results.json"),
    categories: Annotated[str, typer.Option(help="LoCoMo question categories (5: adversarial).")] = "1,2,3,4",
    levels: Annotated[str, typer.Option(help="nested-kv nesting levels (0: a plain lookup).")] = "0,1,2,3,4",
    turns_per_message: Annotated[int, typer.Option(help="locomo: turns per message (0: one message per "
                                                   "session).")] = 0,
    context_window: Annotated[int | None, typer.Option(help="Agents' window in tokens (default: "
                                                       "the model's).")] = None,
    price_in: PriceIn = None, price_out: PriceOut = None, judge_price_in: PriceIn = None,
    judge_price_out: PriceOut = None,
    home: Annotated[Path | None, typer.Option(help="Keep the agents in this data directory (default: a "
                                              "temporary one, deleted afterwards).")] = None,
) -> None:
    """Evaluate a model on memory tasks; writes a JSON report (config, items, aggregates).

    locomo: LoCoMo QA, the agent reads each conversation session by session, then answers.

    dmr: deep memory retrieval, the LoCoMo sessions are only in recall memory.

    nested-kv: the MemGPT paper's nested key-value retrieval, levels 0-4 (exact match).

    Scores per category or level with 95% intervals (judge J, F1, BLEU-1).

    Tokens, latency and cost are reported.
    """
    from rich.markup import escape

    from memgpt.core.settings import Settings
    from memgpt.evals import EvalConfig, summary
    from memgpt.evals.command import parse_ints, run_to_file
    from memgpt.evals.pricing import price_of

    chosen = model or Settings().model
    try:
        if not chosen:
            raise MemGPTError("name the model to evaluate with --model (or set MEMGPT_MODEL)")
        config = EvalConfig(
            task=task, model=chosen, judge_model=judge_model, data=data, limit=limit,
            categories=parse_ints(categories, "--categories", range(1, 6)),
            levels=parse_ints(levels, "--levels", range(0, 7)), turns_per_message=turns_per_message,
            context_window=context_window, price=price_of(chosen, price_in, price_out),
            judge_price=price_of(judge_model or chosen,  # the judge is the model: its prices too
                                 price_in if judge_price_in is None and not judge_model else judge_price_in,
                                 price_out if judge_price_out is None and not judge_model else judge_price_out),
        )
        report = run_to_file(home, config, out, lambda line: console.print(f"[dim]{escape(line)}[/]"))
    except MemGPTError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    for line in summary(report):
        console.print(line, highlight=False, markup=False)
    console.print(f"Report written to {out}", highlight=False, markup=False)


@app.command()
def server(
    home: Home = None,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (Letta's default, 8283).")] = 8283,
    require_key: Annotated[
        bool | None, typer.Option("--require-key/--no-key", help="Require API keys "
                                  "(default: only when not on loopback).")
    ] = None,
) -> None:
    """Serve agents over HTTP: the Letta REST API (letta-client works) and /memgpt/v1."""
    from memgpt.server import run

    try:
        run(host, port, settings=_settings(home, operator=False), require_key=require_key)
    except MemGPTError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc


keys_app = typer.Typer(help="Create, list and revoke API keys for the server.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(schedule_app, name="schedule")  # memgpt/cli/schedules.py
app.add_typer(archives_app, name="archives")  # memgpt/cli/resources.py
app.add_typer(identities_app, name="identities")
app.add_typer(folders_app, name="folders")  # memgpt/cli/folders.py
app.add_typer(mcp_app, name="mcp")  # memgpt/cli/mcp.py
app.add_typer(conversations_app, name="conversations")  # memgpt/cli/conversations.py
app.add_typer(runs_app, name="runs")  # memgpt/cli/runs.py
app.add_typer(window_app, name="window")  # memgpt/cli/runs.py


@keys_app.command("create")
def keys_create(user: str, home: Home = None) -> None:
    """Create an API key for USER; it is shown once and stored only as a hash."""
    key_id, raw = _run(home, lambda svc: svc.create_api_key(user))
    console.print(f"key id: {key_id}\nAPI key for {user} (shown once, keep it safe):")
    print(raw)


@keys_app.command("list")
def keys_list(home: Home = None) -> None:
    """List API keys (ids, users, prefixes; never the keys)."""
    for k in _run(home, lambda svc: svc.list_api_keys()):
        state = f"revoked {k['revoked_at']:%Y-%m-%d}" if k["revoked_at"] else "active"
        console.print(f"{k['id']}  {k['user']}  {k['prefix']}…  {state}", highlight=False)


@keys_app.command("revoke")
def keys_revoke(key_id: str, home: Home = None) -> None:
    """Revoke an API key by its id."""
    _run(home, lambda svc: svc.revoke_api_key(key_id))
    console.print(f"revoked {key_id}")



blocks_app = typer.Typer(help="Standalone blocks that several agents share.", no_args_is_help=True)
app.add_typer(blocks_app, name="blocks")


@blocks_app.command("list")
def blocks_list(home: Home = None, label: str | None = None, search: str | None = None) -> None:
    """List blocks (every agent's and the standalone ones), by label or text in the value."""
    for b in _run(home, lambda svc: svc.list_all_blocks(label=label, value_search=search)):
        preview = b.value if len(b.value) <= 60 else b.value[:57] + "..."
        console.print(f"{b.id}  {b.label}  {len(b.value)}/{b.limit}  [dim]{preview}[/]", highlight=False)


@blocks_app.command("create")
def blocks_create(
    label: str, value: str, home: Home = None, limit: int | None = None, description: str = "",
    read_only: bool = False,
) -> None:
    """Create a standalone block LABEL holding VALUE; prints its id."""
    block = _run(home, lambda svc: svc.create_block(
        label, value, limit=limit, description=description, read_only=read_only))
    print(block.id)


@blocks_app.command("show")
def blocks_show(block_id: str, home: Home = None) -> None:
    """Show a block and the agents it is attached to."""
    from memgpt.cli.render import print_blocks

    async def job(svc: AgentService) -> tuple[Any, list[Any]]:
        return await svc.retrieve_block(block_id), await svc.block_agents(block_id)

    block, agents = _run(home, job)
    print_blocks(console, [block])
    console.print("attached to: " + (", ".join(a.name for a in agents) or "no agent"), highlight=False)


@blocks_app.command("attach")
def blocks_attach(block_id: str, agent: str, home: Home = None) -> None:
    """Attach block BLOCK_ID to AGENT (its label must be free there)."""
    state = _run(home, lambda svc: svc.attach_block(agent, block_id))
    console.print(f"attached {block_id} to {state.name}", highlight=False)


@blocks_app.command("detach")
def blocks_detach(block_id: str, agent: str, home: Home = None) -> None:
    """Take block BLOCK_ID from AGENT; the block is kept."""
    state = _run(home, lambda svc: svc.detach_block(agent, block_id))
    console.print(f"detached {block_id} from {state.name}", highlight=False)



tools_app = typer.Typer(help="Run an agent's tools, answer held calls, find tools.", no_args_is_help=True)
app.add_typer(tools_app, name="tools")


@tools_app.command("run")
def tools_run(agent: str, tool: str, args: str = typer.Option("{}", help="Arguments as a JSON object."),
              home: Home = None) -> None:
    """Run TOOL of AGENT now, outside a turn (memory edits are saved); prints its result."""
    try:
        parsed = json.loads(args)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"--args is not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise typer.BadParameter("--args must be a JSON object")
    done = _run(home, lambda svc: svc.run_tool(agent, tool, parsed))
    console.print(("[red]error:[/] " if done.is_error else "") + done.content, highlight=False)
    if done.is_error:
        raise typer.Exit(1)


@tools_app.command("answer")
def tools_answer(agent: str, approve: bool = typer.Option(..., "--approve/--deny"),
                 reason: str | None = None, home: Home = None) -> None:
    """Approve or deny the calls AGENT holds for approval; prints what it said next."""
    from memgpt.core.tool_control import Decision

    result = _run(home, lambda svc: svc.send_approval(agent, [Decision(approve=approve, reason=reason)]))
    for text in result.replies:
        console.print(text, highlight=False)


@tools_app.command("search")
def tools_search(query: str, home: Home = None, limit: int = 10) -> None:
    """The tools best matching QUERY, with their scores."""
    for hit in _run(home, lambda svc: svc.search_tools(query, limit=limit)):
        console.print(f"{hit.score:.2f}  {hit.tool.name}: {hit.tool.spec.description}", highlight=False)

if __name__ == "__main__":
    app()
