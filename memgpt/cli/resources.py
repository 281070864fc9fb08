"""``memgpt archives`` and ``memgpt identities``: shared archival memory and the people or
orgs agents serve. Like the rest of the CLI, only typer, rich and memgpt.core.errors load at
start-up; each command imports the service itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from memgpt.cli.common import Home, _run

if TYPE_CHECKING:
    from memgpt.services.service import AgentService

T = TypeVar("T")
console = Console(soft_wrap=True)  # one line per item, whatever the width
archives_app = typer.Typer(help="Archives: archival memory several agents share.", no_args_is_help=True)
identities_app = typer.Typer(help="Identities: the users or orgs your agents serve.", no_args_is_help=True)


def _clip(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


# --- archives ----------------------------------------------------------------------------------
@archives_app.command("list")
def archives_list(home: Home = None, name: str | None = None, agent: str | None = None) -> None:
    """List archives (by exact name, or those attached to an agent) with their passage counts."""
    async def job(svc: AgentService) -> list[tuple[str, str, int, str]]:
        found = await svc.list_archives(name=name, agent=agent)
        counts = await svc._passage_counts([a.id for a in found])
        return [(a.id, a.name, counts[a.id], a.description) for a in found]

    for archive_id, archive_name, count, description in _run(home, job):
        console.print(f"{archive_id}  {archive_name}  {count} passages  [dim]{_clip(description)}[/]",
                      highlight=False)


@archives_app.command("create")
def archives_create(name: str, home: Home = None, description: str = "") -> None:
    """Create an empty archive NAME; prints its id."""
    print(_run(home, lambda svc: svc.create_archive(name, description=description)).id)


@archives_app.command("delete")
def archives_delete(archive_id: str, home: Home = None) -> None:
    """Delete an archive and its passages; every agent it was attached to stops seeing it."""
    _run(home, lambda svc: svc.delete_archive(archive_id))
    console.print(f"deleted {archive_id}", highlight=False)


@archives_app.command("add")
def archives_add(
    archive_id: str, texts: list[str], home: Home = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag for every passage (repeatable).")] = None,
) -> None:
    """Add each TEXT as a passage of ARCHIVE_ID; prints the new passages' ids."""
    from memgpt.memory.archives import NewPassage

    items = [NewPassage(text=t, tags=list(tag or [])) for t in texts]
    for p in _run(home, lambda svc: svc.add_archive_passages(archive_id, items)):
        print(p.id)


@archives_app.command("search")
def archives_search(
    query: str, home: Home = None, archive: str | None = None, agent: str | None = None, limit: int = 10,
) -> None:
    """Search passages: of an --archive, of an --agent (its own and its archives'), or all."""
    hits = _run(home, lambda svc: svc.search_all_passages(query, agent=agent, archive_id=archive, limit=limit))
    if not hits:
        console.print("no passages found")
    for h in hits:
        where = h.passage.archive_id or h.passage.agent_id
        console.print(f"{h.score:.3f}  {h.passage.id}  [dim]{where}[/]  {_clip(h.passage.text)}", highlight=False)


@archives_app.command("attach")
def archives_attach(archive_id: str, agent: str, home: Home = None) -> None:
    """Let AGENT's archival search read ARCHIVE_ID."""
    state = _run(home, lambda svc: svc.attach_archive(agent, archive_id))
    console.print(f"attached {archive_id} to {state.name}", highlight=False)


@archives_app.command("detach")
def archives_detach(archive_id: str, agent: str, home: Home = None) -> None:
    """Stop AGENT's archival search reading ARCHIVE_ID; the archive is kept."""
    state = _run(home, lambda svc: svc.detach_archive(agent, archive_id))
    console.print(f"detached {archive_id} from {state.name}", highlight=False)


# --- identities --------------------------------------------------------------------------------
@identities_app.command("list")
def identities_list(
    home: Home = None, name: str | None = None, key: str | None = None,
    kind: Annotated[str | None, typer.Option("--type", help="user, org or other.")] = None,
) -> None:
    """List identities (name matches a part, any case) with the agents linked to them."""
    async def job(svc: AgentService) -> list[tuple[str, str, str, str, list[str]]]:
        found = await svc.list_identities(name=name, identifier_key=key, identity_type=kind)
        names = {a.id: a.name for a in await svc.list_agents()}
        return [(i.id, i.identifier_key, i.name, i.identity_type, [names.get(a, a) for a in i.agent_ids])
                for i in found]

    for identity_id, identifier_key, identity_name, identity_type, agents in _run(home, job):
        console.print(f"{identity_id}  {identifier_key}  {identity_name} ({identity_type})  "
                      f"[dim]agents: {', '.join(agents) or 'none'}[/]", highlight=False)


@identities_app.command("create")
def identities_create(
    identifier_key: str, name: str, home: Home = None,
    kind: Annotated[str, typer.Option("--type", help="user, org or other.")] = "user",
    agent: Annotated[list[str] | None, typer.Option(help="An agent to link (repeatable).")] = None,
) -> None:
    """Create an identity known by IDENTIFIER_KEY (unique among yours); prints its id."""
    made = _run(home, lambda svc: svc.create_identity(identifier_key, name, identity_type=kind,
                                                       agent_ids=list(agent or [])))
    print(made.id)


@identities_app.command("delete")
def identities_delete(identity_id: str, home: Home = None) -> None:
    """Delete an identity; its agents stay, unlinked."""
    _run(home, lambda svc: svc.delete_identity(identity_id))
    console.print(f"deleted {identity_id}", highlight=False)


@identities_app.command("attach")
def identities_attach(identity_id: str, agent: str, home: Home = None) -> None:
    """Link IDENTITY_ID to AGENT."""
    state = _run(home, lambda svc: svc.attach_identity(agent, identity_id))
    console.print(f"attached {identity_id} to {state.name}", highlight=False)


@identities_app.command("detach")
def identities_detach(identity_id: str, agent: str, home: Home = None) -> None:
    """Unlink IDENTITY_ID from AGENT."""
    state = _run(home, lambda svc: svc.detach_identity(agent, identity_id))
    console.print(f"detached {identity_id} from {state.name}", highlight=False)
