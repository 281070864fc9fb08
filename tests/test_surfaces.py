"""AgentService is the one API; MemGPT, Client and the /memgpt/v1 routes copy it by hand.

These tests make drift between them fail loudly: every user-facing method of AgentService
must exist on MemGPT and Client with the same parameters (names, kinds, defaults, types) and
return type, must be served by a native route that calls it with every parameter, and must
work through both Python front ends (the last test calls every method through each).

Adding a method or a parameter to AgentService therefore fails here until the front ends
have it, or until it is listed in EXCLUDED below with the reason it is not user API.
"""

from __future__ import annotations

import inspect
import io
import re
import time
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from starlette.routing import compile_path

from memgpt import AgentService, MemGPT, ScriptedModel, Settings
from memgpt.core.errors import InvalidRequestError, NotFoundError
from memgpt.core.schemas import (
    AgentState, Block, ContextReport, Message, Passage, Role, SendResult, ToolRule, utcnow,
)
from memgpt.core.tool_control import Decision
from memgpt.llm.scripted import reply, text, tool_call
from memgpt.memory.archives import Archive, NewPassage, PassageHit
from memgpt.memory.files import FileInfo
from memgpt.memory.runs import Run
from memgpt.memory.schedules import ScheduledInput
from memgpt.memory.stores import Identity, IdentityProperty, Page
from memgpt.sdk.client import PREFIX, Client
from memgpt.server import BackgroundServer, create_app
from memgpt.tools.mcp import MASK
from fakes.mcp_server import serving_http

# AgentService's public methods that are NOT user API, and why. Keep this short: anything not
# listed here must be on MemGPT, on Client and behind a /memgpt/v1 route.
EXCLUDED: dict[str, str] = {
    "open": "lifecycle: MemGPT opens in __init__, the server in its lifespan, Client has nothing to open",
    "close": "lifecycle: each front end has its own close() (MemGPT: database and loop; Client: HTTP pool)",
    "scoped": "tenancy plumbing: the server scopes each request to its API key's user; Client sends api_key",
    "model": "returns a live Model object, which cannot cross HTTP; model_names() is the user API",
    "runtime": "internal: loads an agent to run, under its lock",
    "commit_memory": "internal: writes a memory change under the agent's lock",
    "keep": "internal: caches what a committed turn left for the next turn",
    "agent_tools": "internal: the runnable (sandboxed) tool registry the loop runs with",
    "check_custom_tools_allowed": "internal guard behind every custom-tool call",
    "base_tool_defs": "internal helper: list_tools()/list_agent_tools() return the base tools first",
    "recover_runs": "lifecycle: the server calls it at startup; every runs method calls it first",
    "authenticate": "the server's per-request authentication (memgpt.server.deps)",
    # API keys are the operator's (`memgpt keys ...`, straight on AgentService): there is no admin
    # role, so over HTTP any key holder could mint keys for other users or revoke theirs, and
    # list_api_keys lists every user's keys. Client must mirror MemGPT, so neither has them.
    "create_api_key": "operator-only (memgpt keys create): over HTTP a key holder could mint keys for anyone",
    "list_api_keys": "operator-only (memgpt keys list): lists every user's keys",
    "revoke_api_key": "operator-only (memgpt keys revoke): revokes any user's key by id",
}

# Service parameters a front end leaves out. on_event is the loop's streaming callback: a
# blocking call (MemGPT, Client) cannot take a callback, it returns the whole SendResult
# instead (the server streams it as SSE on /messages/stream). Dropping it is safe only
# because it is optional, which test_ignored_parameters_are_optional checks.
IGNORED_PARAMS = {"on_event"}

# Service methods whose signature is ``(..., **options)`` forwarded to another method's
# keywords: the front ends spell those keywords out (hidden parameters are drift too).
# AgentService.upsert_tool(source_code, **options) builds the tool as create_tool does.
FORWARDED_OPTIONS = {"upsert_tool": "create_tool"}


def _public_functions(cls: type) -> dict[str, Callable[..., Any]]:
    """Public methods (plain or async) of cls, inherited ones included; properties are not
    methods and are left out (AgentService's are kernel plumbing: stores, embedder, tools)."""
    return {n: f for n, f in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}


SERVICE = _public_functions(AgentService)
API = {n: f for n, f in SERVICE.items() if n not in EXCLUDED}
FRONT_ENDS = {"MemGPT": MemGPT, "Client": Client}
FRONT_END_OWN = {"close"}
"""Public methods a front end has besides API (its own lifecycle)."""


# --- signatures -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    name: str
    kind: inspect._ParameterKind
    default: Any
    annotation: Any

    def __str__(self) -> str:
        default = "" if self.default is inspect.Parameter.empty else f" = {self.default!r}"
        return f"{self.kind.description} {self.name}: {inspect.formatannotation(self.annotation)}{default}"


def _hints(*fns: Callable[..., Any]) -> list[dict[str, Any]]:
    """Resolved annotations of each function; if any cannot be resolved (a TYPE_CHECKING-only
    import), the annotation strings of all, so the comparison stays like with like."""
    try:
        return [typing.get_type_hints(f) for f in fns]
    except NameError:
        return [dict(getattr(f, "__annotations__", {})) for f in fns]


def _params(fn: Callable[..., Any], hints: dict[str, Any]) -> list[Param]:
    return [
        Param(p.name, p.kind, p.default, hints.get(p.name, p.annotation))
        for p in inspect.signature(fn).parameters.values()
        if p.name != "self" and p.name not in IGNORED_PARAMS
    ]


def _expected(name: str, service_hints: dict[str, Any], target_hints: dict[str, Any]) -> list[Param]:
    """The parameters a front end must have for AgentService.<name>."""
    params = _params(API[name], service_hints)
    if name in FORWARDED_OPTIONS:
        target = _params(API[FORWARDED_OPTIONS[name]], target_hints)
        keywords = [p for p in target if p.kind is inspect.Parameter.KEYWORD_ONLY]
        params = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD] + keywords
    return params


def _signature_drift(name: str, front: type) -> list[str]:
    """How front.<name> differs from AgentService.<name>; empty if it does not."""
    mine = getattr(front, name, None)
    if mine is None:
        return [f"{front.__name__} has no {name}()"]
    if inspect.iscoroutinefunction(mine):
        return [f"{front.__name__}.{name} is async; the front ends block"]
    target = API.get(FORWARDED_OPTIONS.get(name, name), API[name])
    service_hints, target_hints, my_hints = _hints(API[name], target, mine)
    want = _expected(name, service_hints, target_hints)
    have = _params(mine, my_hints)
    problems = []
    if have != want:
        problems.append(
            f"{front.__name__}.{name} parameters differ from AgentService.{name}:\n"
            f"  service: {[str(p) for p in want]}\n  {front.__name__}: {[str(p) for p in have]}"
        )
    if my_hints.get("return") != service_hints.get("return"):
        problems.append(
            f"{front.__name__}.{name} returns {my_hints.get('return')}, "
            f"AgentService.{name} {service_hints.get('return')}"
        )
    return problems


def test_exclusions_and_forwards_are_current() -> None:
    """Every excluded name is still on AgentService, and every forwarded one still hides
    its options (else the entry is stale: delete it)."""
    assert set(EXCLUDED) <= set(SERVICE), f"stale EXCLUDED entries: {set(EXCLUDED) - set(SERVICE)}"
    for name, target in FORWARDED_OPTIONS.items():
        kinds = [p.kind for p in inspect.signature(API[name]).parameters.values()]
        assert inspect.Parameter.VAR_KEYWORD in kinds, f"AgentService.{name} lists its parameters now: drop it"
        assert target in API


def test_service_hides_no_parameters() -> None:
    """No user-facing service method takes **kwargs unless FORWARDED_OPTIONS says where they go."""
    for name, fn in API.items():
        kinds = [p.kind for p in inspect.signature(fn).parameters.values()]
        if inspect.Parameter.VAR_KEYWORD in kinds:
            assert name in FORWARDED_OPTIONS, f"AgentService.{name} takes **kwargs: list its parameters"


def test_ignored_parameters_are_optional() -> None:
    """The service parameters the front ends leave out are keyword-only and default to None."""
    for name, fn in API.items():
        for p in inspect.signature(fn).parameters.values():
            if p.name in IGNORED_PARAMS:
                assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is None, (name, p)


@pytest.mark.parametrize("front", FRONT_ENDS.values(), ids=FRONT_ENDS.keys())
@pytest.mark.parametrize("name", sorted(API))
def test_front_end_has_service_method(front: type, name: str) -> None:
    """MemGPT and Client have each user-facing AgentService method, with its parameters
    (names, kinds, defaults, types; ``self`` and IGNORED_PARAMS aside) and return type."""
    problems = _signature_drift(name, front)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("front", FRONT_ENDS.values(), ids=FRONT_ENDS.keys())
def test_front_end_has_nothing_else(front: type) -> None:
    """A front end's public methods are the API and its own close(): nothing left behind by a
    service method that was renamed or removed."""
    extra = set(_public_functions(front)) - set(API) - FRONT_END_OWN
    assert not extra, f"{front.__name__} has methods AgentService does not: {sorted(extra)}"


# --- native routes ---------------------------------------------------------------------------
# The /memgpt/v1 route serving each method. Client calls these; a missing entry or route fails.
ROUTES: dict[str, tuple[str, str]] = {
    "create_agent": ("POST", "/agents"),
    "list_agents": ("GET", "/agents"),
    "get_agent": ("GET", "/agents/{agent}"),
    "update_agent": ("PATCH", "/agents/{agent}"),
    "delete_agent": ("DELETE", "/agents/{agent}"),
    "context_window": ("GET", "/agents/{agent}/context"),
    "model_names": ("GET", "/models"),
    "send_message": ("POST", "/agents/{agent}/messages"),
    "send_event": ("POST", "/agents/{agent}/events"),
    "get_message": ("GET", "/agents/{agent}/messages/{message_id}"),
    "list_messages": ("GET", "/agents/{agent}/messages"),
    "search_messages": ("GET", "/agents/{agent}/messages/search"),
    "list_blocks": ("GET", "/agents/{agent}/blocks"),
    "get_block": ("GET", "/agents/{agent}/blocks/{label}"),
    "update_block": ("PATCH", "/agents/{agent}/blocks/{label}"),
    "insert_passage": ("POST", "/agents/{agent}/passages"),
    "insert_passages": ("POST", "/agents/{agent}/passages"),
    "list_passages": ("GET", "/agents/{agent}/passages"),
    "search_passages": ("GET", "/agents/{agent}/passages/search"),
    "delete_passage": ("DELETE", "/agents/{agent}/passages/{passage_id}"),
    "create_tool": ("POST", "/tools"),
    "upsert_tool": ("PUT", "/tools"),
    "list_tools": ("GET", "/tools"),
    "get_tool": ("GET", "/tools/{tool}"),
    "update_tool": ("PATCH", "/tools/{tool}"),
    "delete_tool": ("DELETE", "/tools/{tool}"),
    "list_agent_tools": ("GET", "/agents/{agent}/tools"),
    "attach_tool": ("PUT", "/agents/{agent}/tools/{tool}"),
    "detach_tool": ("DELETE", "/agents/{agent}/tools/{tool}"),
    "set_agent_tools": ("PUT", "/agents/{agent}/tools"),
    "run_tool": ("POST", "/agents/{agent}/tools/{tool_name}/run"),
    "set_tool_rules": ("PUT", "/agents/{agent}/tool-rules"),
    "set_tool_approval": ("PUT", "/agents/{agent}/tools/{tool_name}/approval"),
    "send_approval": ("POST", "/agents/{agent}/approvals"),
    "search_tools": ("POST", "/tools/search"),
    "export_agent": ("GET", "/agents/{agent}/export"),
    "import_agent": ("POST", "/agents/import"),
    "create_block": ("POST", "/blocks"),
    "list_all_blocks": ("GET", "/blocks"),
    "retrieve_block": ("GET", "/blocks/{block_id}"),
    "modify_block": ("PATCH", "/blocks/{block_id}"),
    "delete_block": ("DELETE", "/blocks/{block_id}"),
    "block_agents": ("GET", "/blocks/{block_id}/agents"),
    "attach_block": ("PUT", "/agents/{agent}/blocks/{block_id}"),
    "detach_block": ("DELETE", "/agents/{agent}/blocks/{block_id}"),
    "create_identity": ("POST", "/identities"),
    "upsert_identity": ("PUT", "/identities"),
    "list_identities": ("GET", "/identities"),
    "get_identity": ("GET", "/identities/{identity_id}"),
    "update_identity": ("PATCH", "/identities/{identity_id}"),
    "delete_identity": ("DELETE", "/identities/{identity_id}"),
    "attach_identity": ("PUT", "/agents/{agent}/identities/{identity_id}"),
    "detach_identity": ("DELETE", "/agents/{agent}/identities/{identity_id}"),
    "agent_identities": ("GET", "/agents/{agent}/identities"),
    "set_agent_tags": ("PUT", "/agents/{agent}/tags"),
    "agent_tags": ("GET", "/agents/{agent}/tags"),
    "list_tags": ("GET", "/tags"),
    "find_agents": ("GET", "/agent-search"),
    "list_all_messages": ("GET", "/messages"),
    "get_any_message": ("GET", "/messages/{message_id}"),
    "search_all_messages": ("GET", "/messages/search"),
    "create_folder": ("POST", "/folders"),
    "list_folders": ("GET", "/folders"),
    "retrieve_folder": ("GET", "/folders/{folder_id}"),
    "modify_folder": ("PATCH", "/folders/{folder_id}"),
    "delete_folder": ("DELETE", "/folders/{folder_id}"),
    "folder_agents": ("GET", "/folders/{folder_id}/agents"),
    "upload_file": ("POST", "/folders/{folder_id}/files"),
    "list_files": ("GET", "/folders/{folder_id}/files"),
    "retrieve_file": ("GET", "/folders/{folder_id}/files/{file_id}"),
    "delete_file": ("DELETE", "/folders/{folder_id}/files/{file_id}"),
    "agent_folders": ("GET", "/agents/{agent}/folders"),
    "attach_folder": ("PUT", "/agents/{agent}/folders/{folder_id}"),
    "detach_folder": ("DELETE", "/agents/{agent}/folders/{folder_id}"),
    "agent_files": ("GET", "/agents/{agent}/files"),
    "open_file": ("POST", "/agents/{agent}/files/{file_id}/open"),
    "close_file": ("POST", "/agents/{agent}/files/{file_id}/close"),
    "close_all_files": ("POST", "/agents/{agent}/files/close-all"),
    "create_schedule": ("POST", "/agents/{agent}/schedules"),
    "list_schedules": ("GET", "/agents/{agent}/schedules"),
    "get_schedule": ("GET", "/agents/{agent}/schedules/{schedule_id}"),
    "delete_schedule": ("DELETE", "/agents/{agent}/schedules/{schedule_id}"),
    "create_archive": ("POST", "/archives"),
    "list_archives": ("GET", "/archives"),
    "retrieve_archive": ("GET", "/archives/{archive_id}"),
    "modify_archive": ("PATCH", "/archives/{archive_id}"),
    "delete_archive": ("DELETE", "/archives/{archive_id}"),
    "archive_agents": ("GET", "/archives/{archive_id}/agents"),
    "add_archive_passages": ("POST", "/archives/{archive_id}/passages"),
    "list_archive_passages": ("GET", "/archives/{archive_id}/passages"),
    "delete_archive_passage": ("DELETE", "/archives/{archive_id}/passages/{archive_passage_id}"),
    "search_all_passages": ("GET", "/passages/search"),
    "attach_archive": ("PUT", "/agents/{agent}/archives/{archive_id}"),
    "detach_archive": ("DELETE", "/agents/{agent}/archives/{archive_id}"),
    "create_mcp_server": ("POST", "/mcp-servers"),
    "list_mcp_servers": ("GET", "/mcp-servers"),
    "get_mcp_server": ("GET", "/mcp-servers/{mcp_server}"),
    "update_mcp_server": ("PATCH", "/mcp-servers/{mcp_server}"),
    "delete_mcp_server": ("DELETE", "/mcp-servers/{mcp_server}"),
    "refresh_mcp_server": ("POST", "/mcp-servers/{mcp_server}/refresh"),
    "list_mcp_tools": ("GET", "/mcp-servers/{mcp_server}/tools"),
    "get_mcp_tool": ("GET", "/mcp-servers/{mcp_server}/tools/{mcp_tool}"),
    "run_mcp_tool": ("POST", "/mcp-servers/{mcp_server}/tools/{mcp_tool}/run"),
    "create_conversation": ("POST", "/conversations"),
    "list_conversations": ("GET", "/conversations"),
    "get_conversation": ("GET", "/conversations/{conversation}"),
    "update_conversation": ("PATCH", "/conversations/{conversation}"),
    "delete_conversation": ("DELETE", "/conversations/{conversation}"),
    "send_conversation_message": ("POST", "/conversations/{conversation}/messages"),
    "conversation_messages": ("GET", "/conversations/{conversation}/messages"),
    "conversation_message": ("GET", "/conversations/{conversation}/messages/{message_id}"),
    "fork_conversation": ("POST", "/conversations/{conversation}/fork"),
    "compact_conversation": ("POST", "/conversations/{conversation}/compact"),
    "recompile_conversation": ("POST", "/conversations/{conversation}/recompile"),
    "cancel_conversation": ("POST", "/conversations/{conversation}/cancel"),
    "send_async": ("POST", "/agents/{agent}/messages/async"),
    "get_run": ("GET", "/runs/{run_id}"),
    "list_runs": ("GET", "/runs"),
    "run_messages": ("GET", "/runs/{run_id}/messages"),
    "cancel_runs": ("POST", "/agents/{agent}/cancel"),
    "list_steps": ("GET", "/steps"),
    "get_step": ("GET", "/steps/{step_id}"),
    "set_step_feedback": ("PATCH", "/steps/{step_id}/feedback"),
    "reset_messages": ("POST", "/agents/{agent}/reset"),
    "compact": ("POST", "/agents/{agent}/compact"),
    "recompile": ("POST", "/agents/{agent}/recompile"),
}
# One route serves both: {"text": ...} or {"texts": [...]}, calling insert_passages (which
# AgentService.insert_passage itself calls).
ROUTE_CALLS = {"insert_passage": "insert_passages"}
ROUTE_EXTRA_INPUTS = {"insert_passage": {"texts"}, "insert_passages": {"text"}}
ROUTE_RENAMES = {"import_agent": {"data": "file"},  # the agent file rides in the body as "file"
                 "upload_file": {"source": "file"},  # an upload is the multipart part "file"
                 "delete_archive_passage": {"passage_id": "archive_passage_id"},  # unlike an agent's passage
                 "create_conversation": {"agent": "agent_id"}}  # as Letta's body names it
OTHER_ROUTES = {
    ("POST", "/agents/{agent}/messages/stream"),  # send_message, streamed as SSE
    ("POST", "/conversations/{conversation}/messages/stream"),  # send_conversation_message, as SSE
    ("GET", "/agents/{agent}/window"),  # context_window with thresholds, drawn by the workbench
}


@dataclass
class Served:
    verb: str
    path: str
    route: APIRoute


def _routes(app: FastAPI) -> list[Served]:
    """The app's API routes in matching order, with their full paths."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI with lazily included routers
    except ImportError:  # older FastAPI copies included routes into app.routes
        found = [(r.path, r) for r in app.routes if isinstance(r, APIRoute)]
    else:
        found = [(str(c.path), c.original_route) for c in iter_route_contexts(app.routes)
                 if isinstance(c.original_route, APIRoute)]
    return [Served(verb, path, route) for path, route in found for verb in sorted(route.methods or ())]


@pytest.fixture(scope="module")
def app_routes(tmp_path_factory: pytest.TempPathFactory) -> list[Served]:
    service = AgentService(Settings(home=tmp_path_factory.mktemp("routes")))
    return _routes(create_app(service))


def _inputs(route: APIRoute) -> dict[str, Any]:
    """What a request to route can carry: path and query parameters and body fields, each
    with its default (PydanticUndefined when required)."""
    d = route.dependant
    found = {p.alias: p.field_info.default for p in [*d.path_params, *d.query_params]}
    for body in d.body_params:
        model = body.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            found.update({f.alias or n: f.default for n, f in model.model_fields.items()})
        else:
            found[body.alias] = body.field_info.default
    return found


def test_route_table_covers_the_api() -> None:
    """Every user-facing method has an entry in ROUTES (add the route, then the entry)."""
    assert set(ROUTES) == set(API), (
        f"no route listed for {sorted(set(API) - set(ROUTES))}; stale: {sorted(set(ROUTES) - set(API))}"
    )


@pytest.mark.parametrize("name", sorted(API))
def test_native_route_serves_method(name: str, app_routes: list[Served]) -> None:
    """The method's /memgpt/v1 route exists, is the one a request reaches, calls the service
    method, and takes each of its parameters with the service's defaults."""
    verb, path = ROUTES[name]
    full = PREFIX + path
    mine = [s for s in app_routes if s.verb == verb and s.path == full]
    assert mine, f"no route {verb} {full} for AgentService.{name}"
    served = mine[0]

    concrete = re.sub(r"\{[^}]+\}", "x", full)
    first = next(s for s in app_routes if s.verb == verb and compile_path(s.path)[0].match(concrete))
    assert first is served, f"{verb} {concrete} reaches {first.path} ({first.route.name}) first"

    called = ROUTE_CALLS.get(name, name)
    source = inspect.getsource(served.route.endpoint)
    assert re.search(rf"\bservice\.{called}\(", source), f"{verb} {full} does not call service.{called}()"

    inputs = _inputs(served.route)
    renames = ROUTE_RENAMES.get(name, {})
    service_params = list(inspect.signature(API[name]).parameters.values())
    if name in FORWARDED_OPTIONS:
        forwarded = inspect.signature(API[FORWARDED_OPTIONS[name]]).parameters.values()
        service_params = [p for p in service_params if p.kind is not p.VAR_KEYWORD]
        service_params += [p for p in forwarded if p.kind is p.KEYWORD_ONLY]
    wanted = {renames.get(p.name, p.name): p.default for p in service_params
              if p.name not in ("self", *IGNORED_PARAMS)}
    assert set(inputs) - ROUTE_EXTRA_INPUTS.get(name, set()) == set(wanted), (
        f"{verb} {full} takes {sorted(inputs)}; AgentService.{name} takes {sorted(wanted)}"
    )
    for param, default in wanted.items():
        if default is not inspect.Parameter.empty:
            got = inputs[param]
            assert got == default and got is not PydanticUndefined, (
                f"{verb} {full}: {param} defaults to {got!r}, AgentService.{name}'s to {default!r}"
            )


def test_no_orphan_native_routes(app_routes: list[Served]) -> None:
    """Every /memgpt/v1 route serves a method in ROUTES (or is listed in OTHER_ROUTES)."""
    known = {(v, PREFIX + p) for v, p in [*ROUTES.values(), *OTHER_ROUTES]}
    native = {(s.verb, s.path) for s in app_routes if s.path.startswith(PREFIX + "/")}
    assert native <= known, f"routes no method maps to: {sorted(native - known)}"


# --- behaviour ------------------------------------------------------------------------------
DICE = '''
def roll(sides: int) -> str:
    """Roll a die.

    Args:
        sides: Faces of the die.
    """
    return f"rolled a d{sides}"
'''


class Recorder:
    """A front end that notes which API methods were called on it."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.called: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        if name in API:
            self.called.add(name)
        return getattr(self.target, name)


@pytest.fixture(params=["MemGPT", "Client"])
def front(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, ScriptedModel]]:
    """A MemGPT, or a Client over a real server, each on a fresh database with model "scripted"."""
    model = ScriptedModel()
    settings = Settings(home=tmp_path / "home")
    if request.param == "MemGPT":
        with MemGPT(settings, models={"scripted": model}) as m:
            yield m, model
    else:
        service = AgentService(settings, models={"scripted": model})
        with BackgroundServer(service) as server, Client(server.url) as c:
            yield c, model


def test_every_method_works_through_both_front_ends(front: tuple[Any, ScriptedModel], tmp_path: Path) -> None:
    """One scenario through MemGPT and through Client (over HTTP), calling every API method,
    with the same results: types, tags and dates on archival search, tools, events, files."""
    f, model = Recorder(front[0]), front[1]
    hour = timedelta(hours=1)

    assert "scripted" in f.model_names()

    # custom tools
    tool = f.create_tool(DICE, description="Roll a die.", tags=["games"])
    assert f.upsert_tool(DICE, function="roll", tags=["dice"], return_char_limit=500).id == tool.id
    assert f.get_tool("roll").tags == ["dice"] and f.get_tool(tool.id).return_char_limit == 500
    assert f.update_tool("roll", description="Roll one die.").spec.description == "Roll one die."
    assert [t.name for t in f.list_tools()][-1] == "roll"

    # agents
    agent = f.create_agent(
        "ada", model="scripted", human="Unknown.", context_window=4096, tools=["roll"],
        blocks=None, persona="I am Sam.", instructions=None, summarizer_model=None, max_output_tokens=None,
    )
    assert isinstance(agent, AgentState) and agent.context_window == 4096
    assert f.get_agent("ada").id == agent.id and [a.id for a in f.list_agents()] == [agent.id]
    changed = f.update_agent("ada", instructions="Be brief.", max_output_tokens=256)
    assert changed.instructions == "Be brief." and changed.max_output_tokens == 256

    def custom_tools() -> list[str]:
        return [t.name for t in f.list_agent_tools(agent.id) if not t.builtin]

    assert custom_tools() == ["roll"]
    assert isinstance(f.detach_tool(agent.id, "roll"), AgentState) and custom_tools() == []
    assert f.attach_tool(agent.id, tool.id).id == agent.id and custom_tools() == ["roll"]
    assert f.set_agent_tools(agent.id, []).id == agent.id and custom_tools() == []
    f.set_agent_tools("ada", ["roll"])
    assert custom_tools() == ["roll"]
    with pytest.raises(InvalidRequestError):
        f.set_agent_tools("ada", ["no-such-tool"])

    # messages
    model.push(reply("Hello, Ada!"))
    sent = f.send_message("ada", "Hi, I'm Ada and I like telescopes.")
    assert isinstance(sent, SendResult) and sent.replies == ["Hello, Ada!"]
    model.push(reply("The timer fired."))
    event = f.send_event("ada", "timer fired")
    assert event.replies == ["The timer fired."] and event.input.role == Role.EVENT
    history = f.list_messages("ada", limit=100)
    assert all(isinstance(m, Message) for m in history) and history[0].id == sent.input.id
    assert [m.seq for m in f.list_messages("ada", after=history[0].seq, limit=2)] == [h.seq for h in history[1:3]]
    assert [m.seq for m in f.list_messages("ada", before=history[2].seq)] == [h.seq for h in history[:2]]
    assert f.get_message("ada", sent.input.id) == sent.input
    page = f.search_messages("ada", "telescopes", limit=5, offset=0)
    assert isinstance(page, Page) and page.items[0].id == sent.input.id
    dated = f.search_messages("ada", start=utcnow() - hour, end=utcnow() + hour)
    assert dated.total >= 2 and sent.input.id in [m.id for m in dated.items]
    assert f.search_messages("ada", "telescopes", end=utcnow() - hour).total == 0

    # core memory
    assert [b.label for b in f.list_blocks("ada")] == ["persona", "human"]
    block = f.update_block("ada", "human", value="Name: Ada", limit=500, description="The user.", read_only=True)
    assert isinstance(block, Block) and block.read_only and block.limit == 500
    assert f.get_block("ada", "human") == block

    # shared blocks: one block, two agents; an edit by id reaches both; detach keeps it
    shared = f.create_block("team", "We build telescopes.", limit=300, description="Shared notes.")
    assert shared.id.startswith("block-") and f.retrieve_block(shared.id) == shared
    other = f.create_agent("bo", model="scripted", block_ids=[shared.id])
    assert f.attach_block("ada", shared.id).id == agent.id
    assert [a.name for a in f.block_agents(shared.id)] == ["ada", "bo"]
    assert f.modify_block(shared.id, value="We grind mirrors.").value == "We grind mirrors."
    assert f.get_block("bo", "team").value == f.get_block("ada", "team").value == "We grind mirrors."
    assert [b.id for b in f.list_all_blocks(label="team", value_search="MIRRORS")] == [shared.id]
    assert f.detach_block("ada", shared.id).id == agent.id and "team" not in [b.label for b in f.list_blocks("ada")]
    f.delete_block(shared.id)
    assert [b.label for b in f.list_blocks("bo")] == ["persona", "human"]
    with pytest.raises(NotFoundError):
        f.retrieve_block(shared.id)
    f.delete_agent(other.id)

    # identities and tags: who an agent serves, labels to find agents by
    acme = f.create_identity("acme", "Acme", identity_type="org", agent_ids=[agent.id],
                             properties=[IdentityProperty(key="plan", value="gold", type="string")])
    assert isinstance(acme, Identity) and acme.agent_ids == [agent.id] and acme.properties[0].value == "gold"
    carol = f.upsert_identity("carol", "Carol")
    assert f.upsert_identity("carol", "Carol B.", agent_ids=[]).id == carol.id
    assert [i.identifier_key for i in f.list_identities(identity_type="org", name=None, identifier_key=None)] == ["acme"]
    assert f.attach_identity("ada", carol.id).id == agent.id
    assert [i.id for i in f.agent_identities("ada")] == [acme.id, carol.id]
    assert f.detach_identity("ada", carol.id).id == agent.id and f.get_identity(carol.id).agent_ids == []
    assert f.update_identity(carol.id, name="Carol C.", identity_type="other").name == "Carol C."
    f.delete_identity(carol.id)
    with pytest.raises(NotFoundError):
        f.get_identity(carol.id)
    assert f.set_agent_tags("ada", ["sky", "glass", "sky"]) == ["glass", "sky"] == f.agent_tags("ada")
    assert f.list_tags() == ["glass", "sky"] and f.list_tags(name="GL") == ["glass"]
    assert [a.id for a in f.find_agents(tags=["sky", "x"])] == [agent.id]
    assert f.find_agents(tags=["sky", "x"], match_all_tags=True) == []
    assert [a.id for a in f.find_agents(identity_id=acme.id, identifier_keys=None)] == [agent.id]

    # schedules: made and read here; memgpt server's scheduler delivers them
    daily = f.create_schedule("ada", [ScheduledInput(text="morning review")], cron="0 9 * * *", max_steps=None,
                              callback_url=None, include_return_message_types=None)
    once = f.create_schedule("ada", [ScheduledInput(role="system", text="check the oven")], at=utcnow() + hour)
    assert daily.kind == "recurring" and once.kind == "one-time" and f.get_schedule("ada", once.id).at == once.at
    page = f.list_schedules("ada", after=None, limit=1)
    assert [x.id for x in page.items] == [daily.id] and page.has_more
    f.delete_schedule("ada", daily.id)
    assert [x.id for x in f.list_schedules("ada").items] == [once.id]
    with pytest.raises(InvalidRequestError):
        f.create_schedule("ada", [ScheduledInput(text="x")], cron="61 * * * *")

    # MCP servers: the fake one over streamable HTTP, its tools listed, run and attached
    with serving_http() as url:
        web = f.create_mcp_server("web", "streamable_http", command=None, args=None, env=None, server_url=url,
                                  auth_header=None, auth_token="tok-1", custom_headers={"X-K": "v"})
        assert web.auth_token == MASK and f.get_mcp_server("web").id == web.id
        assert [x.id for x in f.list_mcp_servers()] == [web.id]
        assert "add" in f.refresh_mcp_server(web.id, agent="ada").added
        add = f.get_mcp_tool(web.id, "add")
        assert add.id in [t.id for t in f.list_mcp_tools("web")]
        assert f.run_mcp_tool("web", add.id, {"a": 2, "b": 2}).content == "sum=4"
        f.attach_tool("ada", add.id)
        assert "add" in [t.name for t in f.list_agent_tools("ada")]
        renamed = f.update_mcp_server(web.id, name="web2", command=None, args=None, env=None, server_url=None,
                                      auth_header=None, auth_token=MASK, custom_headers=None)
        assert renamed.name == "web2" and renamed.custom_headers == {"X-K": MASK}
        f.delete_mcp_server("web2")
        assert f.list_mcp_servers() == [] and "add" not in [t.name for t in f.list_agent_tools("ada")]

    # messages across agents
    everything = f.list_all_messages(limit=1000, order="asc")
    assert [m.id for m in everything] == [m.id for m in history] and f.get_any_message(sent.input.id) == sent.input
    assert [m.id for m in f.list_all_messages(after=history[0].id, before=None, limit=1)] == []
    assert [m.id for m in f.list_all_messages(before=history[1].id, order="asc")] == [history[0].id]
    hits = f.search_all_messages("telescopes", agent=None, start=utcnow() - hour, end=None, limit=5)
    assert hits[0].id == sent.input.id and f.search_all_messages("telescopes", agent="ada")[0].id == sent.input.id

    # tool control: a tool run now, rules, an approval denied (the model is told), search
    assert not f.run_tool("ada", "conversation_search", {"query": "telescopes"}).is_error
    rule = ToolRule(type="max_count_per_step", tool_name="conversation_search", max_count_limit=2)
    assert f.set_tool_rules("ada", [rule]).tool_rules == [rule]
    assert f.set_tool_approval("ada", "archival_memory_insert", True).tool_rules[-1].type == "requires_approval"
    model.push(tool_call("archival_memory_insert", content="Plan.", request_heartbeat=True), reply("Not kept."))
    assert f.send_message("ada", "keep this").steps[-1].stop_reason == "requires_approval"
    assert f.send_approval("ada", [Decision(approve=False, reason="no")], request_id=None).replies == ["Not kept."]
    assert f.set_tool_rules("ada", []).tool_rules == []
    assert f.search_tools("archival insert", tags=None, limit=1)[0].tool.name == "archival_memory_insert"

    # archival memory
    mirror = f.insert_passage("ada", "The telescope mirror is 150 mm wide.", tags=["telescope"])
    assert isinstance(mirror, Passage) and mirror.tags == ["telescope"]
    orders = f.insert_passages("ada", ["Order XJ-7731 shipped.", "Order XJ-7732 is late."], ["order", "shipping"])
    assert [p.tags for p in orders] == [["order", "shipping"]] * 2
    assert [p.id for p in f.list_passages("ada", limit=2)] == [p.id for p in orders[::-1]]
    assert [p.id for p in f.list_passages("ada", limit=5, offset=2)] == [mirror.id]

    assert f.search_passages("ada", "XJ-7731", limit=1)[0].id == orders[0].id
    assert [p.id for p in f.search_passages("ada", "order mirror", tags=["telescope"])] == [mirror.id]
    found = f.search_passages("ada", "order mirror", tags=["order", "telescope"])
    assert {p.id for p in found} == {mirror.id, *(p.id for p in orders)}
    assert f.search_passages("ada", "order mirror", tags=["order", "telescope"], match_all_tags=True) == []
    both = f.search_passages("ada", "XJ-7731", tags=["order", "shipping"], match_all_tags=True)
    assert both[0].id == orders[0].id and {p.id for p in both} <= {p.id for p in orders}
    assert f.search_passages("ada", "mirror", end=utcnow() - hour) == []
    assert f.search_passages("ada", "mirror", start=utcnow() + hour) == []
    recent = f.search_passages("ada", "order mirror", start=utcnow() - hour, end=utcnow() + hour, limit=10)
    assert {p.id for p in recent} == {mirror.id, *(p.id for p in orders)}

    f.delete_passage("ada", orders[1].id)
    assert orders[1].id not in [p.id for p in f.list_passages("ada")]
    report = f.context_window("ada")
    assert isinstance(report, ContextReport) and report.archival_passages == 2

    # archives: shared archival memory, searched with the agent's own passages while attached
    shelf = f.create_archive("shelf", description="Shared notes.", embedding=None, metadata={"k": 1})
    assert isinstance(shelf, Archive) and f.retrieve_archive(shelf.id) == shelf
    kept = f.add_archive_passages(shelf.id, [NewPassage(text="Eyepiece ZX-42 fits the 150 mm mirror.", tags=["kit"]),
                                             NewPassage(text="Scratch note.", created_at=utcnow() - hour)])
    assert [p.archive_id for p in kept] == [shelf.id] * 2 and kept[0].tags == ["kit"]
    assert [p.id for p in f.list_archive_passages(shelf.id, limit=1, offset=1)] == [kept[0].id]  # newest first
    f.delete_archive_passage(shelf.id, kept[1].id)
    assert f.attach_archive("ada", shelf.id).id == agent.id and [a.id for a in f.archive_agents(shelf.id)] == [agent.id]
    assert [a.id for a in f.list_archives(name=None, agent="ada")] == [shelf.id]
    assert f.search_passages("ada", "ZX-42", limit=1)[0].id == kept[0].id
    hits = f.search_all_passages("ZX-42 mirror", agent="ada", archive_id=None, limit=5, tags=["kit", "telescope"],
                                 match_all_tags=False, start=utcnow() - hour, end=None)
    assert isinstance(hits[0], PassageHit) and hits[0].passage.id == kept[0].id and {h.passage.id for h in hits} == {
        kept[0].id, mirror.id}
    assert f.modify_archive(shelf.id, name="books", description=None).name == "books"
    assert f.detach_archive("ada", shelf.id).id == agent.id
    assert kept[0].id not in [p.id for p in f.search_passages("ada", "ZX-42")]
    f.delete_archive(shelf.id)
    with pytest.raises(NotFoundError):
        f.retrieve_archive(shelf.id)

    # folders and files: upload (a path and a stream), attach, open/close, detach, delete
    folder = f.create_folder("docs", description="Manuals.", instructions="", metadata={"k": 1},
                             chunk_tokens=None)
    assert f.retrieve_folder(folder.id) == folder and [x.id for x in f.list_folders(name="docs")] == [folder.id]
    assert f.modify_folder(folder.id, name="manuals", description=None, instructions=None,
                           metadata=None).name == "manuals"
    manual = tmp_path / "scope.md"
    manual.write_text("# Scope\nThe eyepiece is 25 mm.\n")
    up = f.upload_file(folder.id, manual, file_name=None, name=None, duplicate_handling="suffix", wait=True)
    assert isinstance(up, FileInfo) and up.status == "completed" and up.file_name == "scope.md"
    again = f.upload_file(folder.id, io.BytesIO(b"second"), file_name="scope.md", wait=True)
    assert again.file_name == "scope_(1).md"
    assert f.retrieve_file(folder.id, up.id, include_content=True).content == "# Scope\nThe eyepiece is 25 mm."
    assert [x.id for x in f.list_files(folder.id, include_content=False)] == [up.id, again.id]
    assert f.attach_folder("ada", folder.id).id == agent.id and f.folder_agents(folder.id) == [agent.id]
    assert [x.id for x in f.agent_folders("ada")] == [folder.id]
    opened = f.agent_files("ada", is_open=True)
    assert {x.file_id for x in opened} == {up.id, again.id} and "1: # Scope" in (opened[0].visible_content or "")
    f.close_file("ada", up.id)
    assert f.close_all_files("ada") == ["manuals/scope_(1).md"] and f.open_file("ada", up.id) == []
    f.delete_file(folder.id, again.id)
    assert [x.file_id for x in f.agent_files("ada", is_open=None)] == [up.id]
    assert f.detach_folder("ada", folder.id).id == agent.id and f.agent_files("ada") == []
    f.delete_folder(folder.id)
    with pytest.raises(NotFoundError):
        f.retrieve_folder(folder.id)

    # conversations: two threads of one agent over one core memory; fork, compact, cancel
    cy = f.create_agent("cy", model="scripted", human="Nothing yet.")
    one = f.create_conversation("cy", description="tea", model=None, context_window_limit=None, summary=None,
                                hidden=False)
    two = f.create_conversation(cy.id, summary="Earlier: kites.")
    model.push(tool_call("core_memory_append", label="human", content="Likes tea.", request_heartbeat=True),
               reply("Noted."))
    assert f.send_conversation_message(one.id, "I like tea.", agent=None, event=False).replies == ["Noted."]
    model.push(reply("Hi."))
    f.send_conversation_message(two.id, "hello")
    assert "Likes tea." in model.calls[-1].system
    assert [m.text for m in model.calls[-1].messages if m.role is Role.USER] == ["hello"]
    said = f.conversation_messages(one.id, agent=None, limit=50, before=None, after=None)
    assert said[0].text == "I like tea." and f.conversation_message(one.id, said[0].id, agent=None) == said[0]
    fork = f.fork_conversation(one.id, agent=None, message_id=None, hidden=False)
    assert [m.text for m in f.conversation_messages(fork.id)] == [m.text for m in said]
    model.push(reply("Again."))
    f.send_conversation_message(one.id, "and again")
    model.push(text("Tea talk."))
    assert f.compact_conversation(one.id, agent=None).summary == "Tea talk."
    assert "Tea talk." in f.recompile_conversation(one.id, agent=None, dry_run=True)
    assert f.cancel_conversation(one.id, agent=None) == {}
    assert f.update_conversation(two.id, description=None, model=None, context_window_limit=None, archived=True,
                                 summary=None, last_message_at=None).archived
    assert [c.id for c in f.list_conversations(agent="cy", archive_status="unarchived", summary_search=None,
                                               order_by="created_at", descending=False, after=None,
                                               limit=10)] == [one.id, fork.id]
    assert f.get_conversation(two.id).summary == "Earlier: kites."
    f.delete_conversation(two.id)
    with pytest.raises(NotFoundError):
        f.get_conversation(two.id)
    f.delete_agent("cy")

    # runs and steps: an async send polled to its end; window control
    model.push(reply("Done later."))
    queued = f.send_async("ada", "do this later", role="user", callback_url=None, metadata={"k": "v"},
                          request_config=None)
    assert isinstance(queued, Run) and queued.background
    for _ in range(1000):
        if not f.get_run(queued.id).active:
            break
        time.sleep(0.01)
    assert f.get_run(queued.id).status == "completed" and f.get_run(queued.id).metadata == {"k": "v"}
    assert f.run_messages(queued.id, after_seq=None, limit=10)[0].text == "do this later"
    assert [r.id for r in f.list_runs("ada", statuses=["completed"], background=True, before=None, after=None,
                                      limit=5, ascending=False)] == [queued.id]
    [step] = f.list_steps(agent="ada", run_id=queued.id, feedback=None, before=None, after=None, limit=5,
                          ascending=True)
    assert f.get_step(step.id).run_id == queued.id
    assert f.set_step_feedback(step.id, "positive", tags=["ok"]).feedback == "positive"
    assert f.cancel_runs("ada", run_ids=None) == {}
    assert "Be brief." in f.recompile("ada", dry_run=True, update_timestamp=False)
    model.push(text("Talk of telescopes."))
    assert f.compact("ada").summary == "Talk of telescopes."
    assert f.reset_messages("ada", add_default_initial_messages=False).summary == ""

    # agent files
    data = f.export_agent("ada", messages=True, passages=False)
    copy_ = f.import_agent(data, name="ada-2", model="scripted", strip_messages=True, replace_tools=False,
                           copy_suffix=True)
    assert copy_.name == "ada-2__copy" and copy_.id != agent.id
    assert [t.name for t in f.list_agent_tools(copy_.id) if not t.builtin] == ["roll"]
    assert f.list_passages(copy_.id) == []
    f.delete_agent(copy_.id)
    with pytest.raises(NotFoundError):
        f.get_agent("ada-2__copy")
    f.delete_tool("roll")
    assert custom_tools() == []

    missing = set(API) - f.called
    assert not missing, f"this scenario does not exercise {sorted(missing)}: add them"
