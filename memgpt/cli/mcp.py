"""``memgpt mcp``: MCP servers whose tools agents can use (add, list, tools, remove). Like the
rest of the CLI, only typer, rich and memgpt.core.errors load at start-up; each command
imports the service itself. Attach a listed tool with its id (``memgpt mcp tools SERVER``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from memgpt.cli.common import Home, _run

if TYPE_CHECKING:
    from memgpt.services.service import AgentService

T = TypeVar("T")
mcp_app = typer.Typer(help="MCP servers whose tools agents can use.", no_args_is_help=True)
console = Console()


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{what} must be NAME=VALUE, not {item!r}")
        out[key] = value
    return out


@mcp_app.command("add")
def mcp_add(
    name: str,
    target: Annotated[str, typer.Argument(help="A URL (http/https), or the command of a stdio server.")],
    args: Annotated[list[str] | None, typer.Argument(help="The stdio command's arguments.")] = None,
    env: Annotated[list[str] | None, typer.Option(help="NAME=VALUE for a stdio server (repeat).")] = None,
    header: Annotated[list[str] | None, typer.Option(help="NAME=VALUE sent to a remote server (repeat).")] = None,
    token: Annotated[str | None, typer.Option(help="Bearer token for a remote server.")] = None,
    sse: Annotated[bool, typer.Option(help="The URL speaks SSE, not streamable HTTP.")] = False,
    home: Home = None,
) -> None:
    """Add an MCP server: NAME, then a URL or a command with its arguments; lists its tools."""
    remote = target.startswith(("http://", "https://"))
    kind = ("sse" if sse else "streamable_http") if remote else "stdio"

    async def job(svc: AgentService) -> list[str]:
        if remote:
            server = await svc.create_mcp_server(name, kind, server_url=target, auth_token=token,
                                                 custom_headers=_pairs(header, "--header") or None)
        else:
            server = await svc.create_mcp_server(name, kind, command=target, args=list(args or []),
                                                 env=_pairs(env, "--env") or None)
        console.print(f"added {server.name} ({server.kind}): {server.id}")
        return [t.name for t in await svc.list_mcp_tools(server.id)]

    console.print("tools: " + (", ".join(_run(home, job)) or "none"))


@mcp_app.command("list")
def mcp_list(home: Home = None) -> None:
    """The MCP servers (secrets masked)."""
    servers = _run(home, lambda svc: svc.list_mcp_servers())
    table = Table("name", "type", "target", "id")
    for s in servers:
        table.add_row(s.name, s.kind, s.server_url or " ".join([s.command or "", *s.args])[:80], s.id)
    console.print(table)


@mcp_app.command("tools")
def mcp_tools(
    server: str, home: Home = None,
    refresh: Annotated[bool, typer.Option(help="List them from the server now.")] = False,
) -> None:
    """A server's tools, with the ids to attach them by."""
    async def job(svc: AgentService) -> list[tuple[str, str, str]]:
        if refresh:
            await svc.refresh_mcp_server(server)
        return [(t.name, t.spec.description[:70], t.id) for t in await svc.list_mcp_tools(server)]

    table = Table("tool", "description", "id")
    for row in _run(home, job):
        table.add_row(*row)
    console.print(table)


@mcp_app.command("remove")
def mcp_remove(server: str, home: Home = None) -> None:
    """Delete an MCP server; agents lose its tools."""
    _run(home, lambda svc: svc.delete_mcp_server(server))
    console.print(f"removed {server}")
