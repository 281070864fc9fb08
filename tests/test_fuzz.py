"""Schemathesis fuzzing of the server's OpenAPI schema: no input makes it answer 5xx.

One uvicorn server on 127.0.0.1 (in a thread, so hypothesis drives it with plain synchronous
calls) serves the app in local mode (``require_key=False``) with a scripted echo model, so
sends really run the agent loop. Every operation of the OpenAPI schema is a test. Its
examples (a fixed number, derandomized: the same on every run) are drawn from schemathesis'
positive (schema-valid) cases, its negative (schema-violating) cases, and positive cases whose
path parameters name a real agent of the caller with a real block label, passage id and
message id (random ids almost only reach the 404 branch); each is sent either without
credentials (the local user) or with a valid bearer key (another user).

Checks: no status >= 500 (a JSON 501 ``not_implemented`` is a deliberate answer, not a
failure); SSE streams end with ``[DONE]`` and carry no 5xx error event; and every response
with a documented status matches its documented schema (``response_schema_conformance``).
Random examples rarely reach the edges of what the schema allows, so a last group of tests
sends, deterministically, each unbounded integer at 2**64 and each date-time at the ends of
the calendar. A failure names the operation, the request (as curl), the response and the
server's own log of the crash.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import load_all_checks

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.llm.base import ModelRequest, ModelResponse
from memgpt.llm.scripted import reply
from memgpt.core.schemas import Role
from memgpt.server import create_app
from fakes.mcp_server import shared_http_url

TOOL_SOURCE = '''
def {name}(text: str, times: int = 1) -> str:
    """Repeat a text.

    Args:
        text: What to repeat.
        times: How often.
    """
    return text * times
'''
"""A custom tool's source; the fuzzed agents get one attached."""

EXAMPLES = 10
"""Examples per operation, drawn from positive, negative and real-id cases, local and bearer."""

AUTH = ("local", "bearer")
SEED = 20250611
"""Hypothesis' seed: every run draws the same examples, so CI is stable."""

VALID_BODIES: dict[str, dict[str, Any]] = {
    "POST /v1/archives/{archive_id}/passages/batch": {"passages": [{"text": "a fuzzed passage", "tags": ["f"]}]},
    "POST /memgpt/v1/archives/{archive_id}/passages": {"items": [{"text": "a fuzzed passage"}]},
    "POST /v1/agents/": {"model": "scripted"},
    "PATCH /v1/agents/{agent_id}": {"system": "Be brief."},
    "POST /v1/agents/{agent_id}/messages": {"input": "hello there"},
    "POST /v1/agents/{agent_id}/messages/stream": {"input": "hello there", "stream_tokens": True},
    "POST /v1/messages/search": {"agent_id": "<agent>", "query": "hello"},
    "POST /v1/tools/": {"source_code": TOOL_SOURCE.format(name="fuzzed_tool")},
    "PUT /v1/tools/": {"source_code": TOOL_SOURCE.format(name="fuzzed_tool")},
    "POST /memgpt/v1/tools": {"source_code": TOOL_SOURCE.format(name="fuzzed_tool")},
    "PUT /memgpt/v1/tools": {"source_code": TOOL_SOURCE.format(name="fuzzed_tool")},
    "POST /v1/agents/{agent_id}/schedule": {"schedule": {"type": "recurring", "cron_expression": "0 0 1 1 *"},
                                            "messages": [{"role": "user", "content": "hello there"}]},
    "POST /memgpt/v1/agents/{agent}/schedules": {"cron": "0 0 1 1 *", "messages": [{"text": "hello there"}]},
    "POST /v1/conversations/{conversation_id}/messages": {"input": "hello there", "streaming": False},
    "POST /memgpt/v1/conversations": {"agent_id": "<agent>"},
    "POST /memgpt/v1/conversations/{conversation}/messages": {"text": "hello there"},
}
"""A working body for operations whose random bodies (nearly) never get past validation, so
their success path is fuzzed too (with generated query parameters and real path ids)."""


def _settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        derandomize=False,  # the fixed SEED instead: the same examples on every run, even after edits
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure reports what was found
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


def _schema() -> dict[str, Any]:
    """The app's OpenAPI schema (building it needs no database)."""
    settings = Settings(home=Path(tempfile.gettempdir()), database_url="sqlite+aiosqlite:///:memory:")
    return create_app(AgentService(settings)).openapi()


SPEC = _schema()
OPERATIONS = [f"{method.upper()} {path}" for path, ops in SPEC["paths"].items() for method in ops]


def echo(request: ModelRequest) -> ModelResponse:
    """Reply to the latest user message by repeating it (or "ok" when there is none)."""
    last = next((m for m in reversed(request.messages) if m.role is Role.USER), None)
    return reply(f"echo: {last.text[:100]}" if last is not None else "ok")


# --- the server -------------------------------------------------------------------------------
class _Records(logging.Handler):
    """Server log records at WARNING and above (the app logs every crash there)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def since(self, index: int) -> str:
        fmt = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return "\n".join(fmt.format(r) for r in self.records[index:]) or "(nothing logged)"


@dataclass
class Outcome:
    """What fuzzing one operation found."""

    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    nonconforming: dict[str, str] = field(default_factory=dict)  # distinct problem -> report


@dataclass
class Served:
    """The fuzzed server: its URL, a valid bearer key, its log, and what fuzzing found."""

    url: str
    key: str
    logs: _Records
    session: requests.Session
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by operation: each is fuzzed once
    targets: dict[str, dict[str, str]] = field(default_factory=dict)  # shared target agents


async def _prepare(service: AgentService) -> str:
    """Migrate the database and make a bearer key, then let go of this loop's connections."""
    await service.open()
    _, raw = await service.create_api_key("fuzzer")
    await service.close()  # disposes the pool; the server's loop opens its own connections
    return raw


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """uvicorn serving the app (local mode, scripted echo model) from a thread on 127.0.0.1."""
    settings = Settings(home=tmp_path_factory.mktemp("fuzz"))
    service = AgentService(settings, models={"scripted": ScriptedModel(policy=echo)})
    key = asyncio.run(_prepare(service))
    app = create_app(service, own_service=True, require_key=False)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    logs = _Records()
    loggers = [logging.getLogger(n) for n in ("memgpt.server", "uvicorn.error")]
    for lg in loggers:
        lg.addHandler(logs)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    session = requests.Session()
    session.trust_env = False  # no proxies: the server is on loopback
    try:
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", key, logs, session)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        session.close()
        for lg in loggers:
            lg.removeHandler(logs)


@pytest.fixture(scope="module")
def schema() -> schemathesis.BaseSchema:
    """The schema as schemathesis sees it."""
    load_all_checks()
    return schemathesis.openapi.from_dict(SPEC)


def _headers(served: Served, auth: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {served.key}"} if auth == "bearer" else {}


def _target_agent(served: Served, auth: str, names: Collection[str] | None = None) -> dict[str, str]:
    """A fresh agent of the caller's and real things inside or beside it: values by path
    parameter name. With ``names``, only the things those parameters name (a write operation
    needs nothing else); without, one of everything (the agent shared by reads)."""
    headers = _headers(served, auth)

    def call(method: str, path: str, **kwargs: Any) -> Any:
        r = served.session.request(method, served.url + path, headers=headers, timeout=30, **kwargs)
        assert r.status_code < 300, f"setting up the target agent: {method} {path}: {r.status_code} {r.text}"
        return r.json()

    def want(*params: str) -> bool:
        return names is None or any(p in names for p in params)

    agent = call("POST", "/memgpt/v1/agents", json={"name": f"target-{uuid.uuid4().hex[:12]}",
                                                      "model": "scripted"})
    a = agent["id"]
    out = {"agent_id": a, "agent": a, "block_label": "human", "label": "human"}
    if want("memory_id", "passage_id"):
        [passage] = call("POST", f"/memgpt/v1/agents/{a}/passages", json={"text": "the mirror is 150 mm"})
        out |= {"memory_id": passage["id"], "passage_id": passage["id"]}
    if want("message_id", "run_id", "step_id"):
        call("POST", f"/memgpt/v1/agents/{a}/messages", json={"text": "hello there"})
        out["message_id"] = call("GET", f"/memgpt/v1/agents/{a}/messages")[-1]["id"]
        run = call("GET", "/memgpt/v1/runs", params={"agent": a, "limit": 1})[0]
        step = call("GET", "/memgpt/v1/steps", params={"run_id": run["id"], "limit": 1})[0]
        out |= {"run_id": run["id"], "step_id": step["id"]}
    if want("tool_id", "tool", "tool_name"):
        tool = call("POST", "/memgpt/v1/tools", json={"source_code": TOOL_SOURCE.format(name=f"t_{uuid.uuid4().hex[:12]}")})
        call("PUT", f"/memgpt/v1/agents/{a}/tools/{tool['id']}")
        out |= {"tool_id": tool["id"], "tool": tool["id"], "tool_name": tool["name"]}
    if want("block_id"):
        block = call("POST", "/memgpt/v1/blocks", json={"label": f"notes_{uuid.uuid4().hex[:8]}", "value": "shared"})
        call("PUT", f"/memgpt/v1/agents/{a}/blocks/{block['id']}")
        out["block_id"] = block["id"]
    if want("identity_id"):
        out["identity_id"] = call("POST", "/memgpt/v1/identities",
                                  json={"identifier_key": f"user-{uuid.uuid4().hex[:12]}", "name": "Ada"})["id"]
    if want("scheduled_message_id", "schedule_id"):
        schedule = call("POST", f"/memgpt/v1/agents/{a}/schedules",
                        json={"cron": "0 0 1 1 *", "messages": [{"text": "happy new year"}]})
        out |= {"scheduled_message_id": schedule["id"], "schedule_id": schedule["id"]}
    if want("folder_id", "file_id"):
        folder = call("POST", "/memgpt/v1/folders", json={"name": f"docs-{uuid.uuid4().hex[:12]}"})
        file = call("POST", f"/memgpt/v1/folders/{folder['id']}/files", params={"wait": True},
                    files={"file": ("notes.txt", b"The mirror is 150 mm.\nThe tube is 1 m.")})
        call("PUT", f"/memgpt/v1/agents/{a}/folders/{folder['id']}")
        out |= {"folder_id": folder["id"], "file_id": file["id"]}
    if want("archive_id", "archive_passage_id"):
        archive = call("POST", "/memgpt/v1/archives", json={"name": f"shelf-{uuid.uuid4().hex[:12]}"})
        [kept] = call("POST", f"/memgpt/v1/archives/{archive['id']}/passages",
                      json={"items": [{"text": "the tube is 1 m"}]})
        call("PUT", f"/memgpt/v1/agents/{a}/archives/{archive['id']}")
        out |= {"archive_id": archive["id"], "archive_passage_id": kept["id"]}
    if want("mcp_server_id", "mcp_server", "mcp_tool_id", "mcp_tool"):
        mcp = call("POST", "/memgpt/v1/mcp-servers", json={
            "name": f"mcp-{uuid.uuid4().hex[:12]}", "kind": "streamable_http", "server_url": shared_http_url()})
        mcp_tool = next(t for t in call("GET", f"/memgpt/v1/mcp-servers/{mcp['id']}/tools") if t["name"] == "add")
        out |= {"mcp_server_id": mcp["id"], "mcp_server": mcp["id"], "mcp_tool_id": mcp_tool["id"],
                "mcp_tool": mcp_tool["id"]}
    if want("conversation_id", "conversation"):
        conversation = call("POST", "/memgpt/v1/conversations", json={"agent_id": a})
        call("POST", f"/memgpt/v1/conversations/{conversation['id']}/messages", json={"text": "hello there"})
        out |= {"conversation_id": conversation["id"], "conversation": conversation["id"]}
    return out


def _real_path_parameters(served: Served, auth: str, operation: Any) -> dict[str, str]:
    """Real values for the operation's path parameters: a fresh agent of the caller's with just
    what they name for an operation that may change or delete it, a shared one for reads."""
    names = [p.name for p in operation.path_parameters]
    if not names:
        return {}
    if operation.method.upper() == "GET":
        values = served.targets.get(auth) or served.targets.setdefault(auth, _target_agent(served, auth))
    else:
        values = _target_agent(served, auth, names)
    unknown = [n for n in names if n not in values]
    assert not unknown, (
        f"{operation.label}: no real value for path parameters {unknown}: add them to "
        "_target_agent so the fuzzer reaches past the 404 branch"
    )
    return {n: values[n] for n in names}


def _working_body(served: Served, auth: str, label: str) -> dict[str, Any] | None:
    """The operation's VALID_BODIES entry, with "<agent>" standing for a real agent of the caller."""
    if label not in VALID_BODIES:
        return None
    body = dict(VALID_BODIES[label])
    if "<agent>" in body.values():
        agent = served.targets.get(auth) or served.targets.setdefault(auth, _target_agent(served, auth))
        body = {k: agent["agent_id"] if v == "<agent>" else v for k, v in body.items()}
    return body


def _strategy(
    operation: Any, real: dict[str, dict[str, str]], working: dict[str, dict[str, Any] | None]
) -> st.SearchStrategy[tuple[str, Any]]:
    """(auth, case): schemathesis' positive and negative cases, positive ones on real ids, and
    ones with a working body."""
    sources: list[st.SearchStrategy[tuple[str, Any]]] = []
    for auth in AUTH:
        sources.append(st.tuples(st.just(auth), operation.as_strategy(GenerationMode.POSITIVE)))
        sources.append(st.tuples(st.just(auth), operation.as_strategy(GenerationMode.NEGATIVE)))
        if real[auth]:
            positive_real = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real[auth])
            sources.append(st.tuples(st.just(auth), positive_real))
        if working[auth] is not None:
            good = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real[auth] or None,
                                         body=working[auth], media_type="application/json")
            sources.append(st.tuples(st.just(auth), good))
    return st.one_of(sources)


def fuzz(served: Served, schema: Any, label: str) -> Outcome:
    """Fuzz one operation (once per module run; both tests share the outcome)."""
    if label in served.outcomes:
        return served.outcomes[label]
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    real = {auth: _real_path_parameters(served, auth, operation) for auth in AUTH}
    working = {auth: _working_body(served, auth, label) for auth in AUTH}
    outcome = Outcome()
    conformance = schemathesis.checks.response_schema_conformance

    @_settings(EXAMPLES)
    @hypothesis.seed(SEED)
    @given(example=_strategy(operation, real, working))
    def run(example: tuple[str, Any]) -> None:
        auth, case = example
        headers = _headers(served, auth)
        mark = len(served.logs.records)
        try:
            response = case.call(base_url=served.url, session=served.session, headers=headers, timeout=30)
        except requests.RequestException as exc:  # the server broke the connection off
            outcome.server_errors.append(
                f"[{auth}] {label}: no response ({type(exc).__name__}: {exc})\n"
                f"request: {case.as_curl_command()}\nserver log:\n{served.logs.since(mark)}"
            )
            return
        outcome.statuses[response.status_code] += 1
        if _server_error(response):
            outcome.server_errors.append(f"[{auth}] " + _describe(case, response, served.logs.since(mark)))
            return
        if problem := _stream_problem(response):
            outcome.server_errors.append(f"[{auth}] {problem}\n" + _describe(case, response, served.logs.since(mark)))
        try:
            case.validate_response(response, checks=[conformance], headers=headers)
        except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis: a FailureGroup per violation
            kind = _signature(exc, response.status_code)
            outcome.nonconforming.setdefault(kind, f"[{auth}] {exc}\n" + _describe(case, response, ""))

    run()
    served.outcomes[label] = outcome
    return outcome


def _signature(exc: BaseException, status: int) -> str:
    """One line telling nonconforming responses apart: status and the violated schema location."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    where = next((line for line in lines if line.startswith("Schema at ")), None)
    return f"{status} {where or (lines[0] if lines else type(exc).__name__)}"


def _content_type(response: schemathesis.Response) -> str:
    for name, values in response.headers.items():
        if name.lower() == "content-type":
            return ",".join(values)
    return ""


def _describe(case: Any, response: schemathesis.Response, logs: str) -> str:
    body = response.text if len(response.text) < 2000 else response.text[:2000] + "..."
    return (
        f"{case.operation.label} answered {response.status_code}\n"
        f"request: {case.as_curl_command()}\nresponse: {body}\nserver log:\n{logs}"
    )


def _server_error(response: schemathesis.Response) -> bool:
    """5xx, except a deliberate JSON 501 for what the server does not implement."""
    if response.status_code < 500:
        return False
    if response.status_code == 501:
        try:
            return bool(response.json().get("type") != "not_implemented")
        except ValueError:
            return True
    return True


def _stream_problem(response: schemathesis.Response) -> str | None:
    """What is wrong with an SSE body: no [DONE] at the end, or a 5xx error event."""
    if not _content_type(response).startswith("text/event-stream"):
        return None
    events = [e for e in response.text.split("\n\n") if e.strip()]
    if not events or events[-1].strip() != "data: [DONE]":
        return "the stream did not end with data: [DONE] (the server broke off)"
    for event in events:
        if event.startswith("event: error") and '"detail":"HTTP 5' in event.replace(" ", ""):
            return "the stream carried a 5xx error event"
    return None


@pytest.mark.parametrize("label", OPERATIONS)
def test_no_server_errors(served: Served, schema: Any, label: str) -> None:
    """Positive, negative and real-id examples of one operation, local and bearer: never a 5xx."""
    outcome = fuzz(served, schema, label)
    assert not outcome.server_errors, (
        f"{label}: {len(outcome.server_errors)} server errors (statuses {dict(outcome.statuses)}):\n\n"
        + "\n\n".join(outcome.server_errors[:3])
    )


def test_fuzzing_reaches_real_agents(served: Served, schema: Any) -> None:
    """The examples on real ids get past the 404 branch: most id-taking operations answer 2xx."""
    with_ids = [label for label in OPERATIONS if "{" in label]
    reached = [label for label in with_ids if any(200 <= s < 300 for s in fuzz(served, schema, label).statuses)]
    missed = sorted(set(with_ids) - set(reached))
    assert len(reached) >= 0.75 * len(with_ids), f"never a 2xx from: {missed}"


def test_responses_match_schema(served: Served, schema: Any) -> None:
    """Every fuzzed answer with a documented status has a body matching the documented schema."""
    problems: dict[str, str] = {}
    for label in OPERATIONS:
        for kind, report in fuzz(served, schema, label).nonconforming.items():
            problems.setdefault(f"{label}: {kind}", report)
    kinds = sorted({k.split(": ", 1)[1] for k in problems})
    assert not problems, (
        f"{len(problems)} operations answered against their documented schema; distinct problems:\n  "
        + "\n  ".join(kinds) + "\n\nexamples:\n\n"
        + "\n\n".join(list({k.split(": ", 1)[1]: v for k, v in problems.items()}.values())[:3])
    )


# --- extreme values -------------------------------------------------------------------------------
# Random examples rarely hit the edges of what the schema allows. These do, deterministically:
# every integer the schema leaves unbounded gets a 65-bit value (and a negative one if it has no
# minimum), every date-time the first and last instants a datetime can hold, with offsets that
# push them past those limits in UTC. All are schema-valid requests, so any 5xx is a bug.
HUGE = 2**64
EXTREME_DATES = ("0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59")
REQUIRED = {"name": None, "model": "scripted", "text": "hello there", "query": "hello", "label": "x", "value": "v",
            "messages": [{"text": "hello there"}], "passages": [{"text": "hello there"}],
            "items": [{"text": "hello there"}], "decisions": [{"approve": True}]}
"""Values for required fields of a base request (None: a fresh unique name)."""
HELPFUL = {"input": "hello there", "agent_id": None, "model": "scripted"}
"""Optional fields a base request needs to get past the route's own checks (None: the real agent)."""


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SPEC["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _variants(node: dict[str, Any]) -> list[dict[str, Any]]:
    node = _resolve(node)
    return [_resolve(v) for v in node.get("anyOf", [node])]


def _extremes(node: dict[str, Any]) -> list[Any]:
    """The edge values a field's schema allows but the server may not handle."""
    out: list[Any] = []
    for v in _variants(node):
        if v.get("type") == "integer" and "maximum" not in v:
            out.append(HUGE)
            if "minimum" not in v:
                out.append(-HUGE)
        if v.get("type") == "string" and v.get("format") == "date-time":
            out.extend(EXTREME_DATES)
    return out


def _object_schema(node: dict[str, Any]) -> dict[str, Any] | None:
    return next((v for v in _variants(node) if v.get("type") == "object" or "properties" in v), None)


def _extreme_cases() -> list[tuple[str, str, tuple[Any, ...], Any]]:
    """(operation, "query" or "body", field path, value) for every edge value in the schema."""
    cases: list[tuple[str, str, tuple[Any, ...], Any]] = []
    for path, ops in SPEC["paths"].items():
        for method, op in ops.items():
            label = f"{method.upper()} {path}"
            for param in op.get("parameters", []):
                if param["in"] == "query":
                    cases += [(label, "query", (param["name"],), v) for v in _extremes(param["schema"])]
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            obj = _object_schema(body["schema"]) if body else None
            for name, prop in (obj or {}).get("properties", {}).items():
                cases += [(label, "body", (name,), v) for v in _extremes(prop)]
                for v in _variants(prop):  # one level into lists of objects (an agent's blocks)
                    item = _object_schema(v["items"]) if v.get("type") == "array" and "items" in v else None
                    for sub, sub_prop in (item or {}).get("properties", {}).items():
                        cases += [(label, "body", (name, 0, sub), x) for x in _extremes(sub_prop)]
    return cases


EXTREME_CASES = _extreme_cases()


def _base_object(schema_node: dict[str, Any], agent_id: str) -> dict[str, Any]:
    """The smallest object of this schema the route accepts: required fields, and a few helpful ones."""
    obj = _object_schema(schema_node) or {}
    out: dict[str, Any] = {}
    for name in obj.get("properties", {}):
        if name in obj.get("required", []) and name not in HELPFUL:  # a required agent_id: the real agent
            assert name in REQUIRED, f"no base value for required field {name!r}: add it to REQUIRED"
            out[name] = REQUIRED[name] if REQUIRED[name] is not None else f"edge-{uuid.uuid4().hex[:10]}"
        elif name in HELPFUL:
            out[name] = HELPFUL[name] if HELPFUL[name] is not None else agent_id
    return out


@pytest.mark.parametrize(
    ("label", "where", "field_path", "value"), EXTREME_CASES,
    ids=[f"{c[0]} {c[1]}:{'.'.join(map(str, c[2]))}={c[3]}" for c in EXTREME_CASES],
)
def test_extreme_values_are_not_server_errors(
    served: Served, schema: Any, label: str, where: str, field_path: tuple[Any, ...], value: Any
) -> None:
    """A schema-valid request with one field at its edge is answered 2xx or 4xx, never 5xx."""
    operation = schema.find_operation_by_label(label)
    key = f"edge {label}"  # one target agent per operation for its edge cases
    agent = served.targets.get(key) or served.targets.setdefault(key, _target_agent(served, "local"))
    real = {p.name: agent[p.name] for p in operation.path_parameters}
    op = SPEC["paths"][operation.path][operation.method.lower()]
    query = {p["name"]: REQUIRED[p["name"]] for p in op.get("parameters", []) if p["in"] == "query" and p.get("required")}
    body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    body = _base_object(body_schema, agent["agent_id"]) if body_schema else None
    if where == "query":
        query[field_path[0]] = value
    else:
        assert body is not None
        target: Any = body
        for i, key in enumerate(field_path[:-1]):
            if isinstance(key, int):  # a list of objects: one base item
                item_schema = _variants(_object_schema(body_schema)["properties"][field_path[i - 1]])  # type: ignore[index]
                array = next(v for v in item_schema if v.get("type") == "array")
                target.append(_base_object(array["items"], ""))
                target = target[0]
            else:
                target = target.setdefault(key, [] if isinstance(field_path[i + 1], int) else {})
        target[field_path[-1]] = value
    url = served.url + operation.path.format(**real)
    mark = len(served.logs.records)
    r = served.session.request(operation.method.upper(), url, params=query, json=body, timeout=30,
                               headers={"Connection": "close"})  # a crash closes the connection
    assert r.status_code < 500, (
        f"{label} answered {r.status_code} to {where} {'.'.join(map(str, field_path))}={value!r}\n"
        f"request: {operation.method.upper()} {r.request.url} body={body}\nresponse: {r.text}\n"
        f"server log:\n{served.logs.since(mark)}"
    )


# --- plumbing -------------------------------------------------------------------------------------
def test_background_server_sets_tcp_nodelay(tmp_path: Path) -> None:
    """BackgroundServer's connections have TCP_NODELAY, so keep-alive replies are not held back.

    asyncio sets TCP_NODELAY only on sockets whose ``proto`` is IPPROTO_TCP; a listening socket
    made as ``socket.socket(AF_INET, SOCK_STREAM)`` has proto 0, and so do the connections it
    accepts. uvicorn writes a response's head and body separately, so without TCP_NODELAY the
    body waits for the client's delayed ACK: ~40 ms per request on a keep-alive connection
    (this file's fuzzing ran ~15x slower on BackgroundServer than on the server above).
    """
    from memgpt.server import BackgroundServer

    with BackgroundServer(AgentService(Settings(home=tmp_path))) as server:
        session = requests.Session()
        session.trust_env = False
        took = []
        for _ in range(12):
            t = time.perf_counter()
            assert session.get(server.url + "/v1/health", timeout=30).status_code == 200
            took.append((time.perf_counter() - t) * 1000)
        connections = list(server._server.server_state.connections)
        flags = [c.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                 for c in connections]
        session.close()
    median = sorted(took)[len(took) // 2]
    assert connections and all(flags), (
        f"TCP_NODELAY is off on the server's connections; keep-alive requests took {median:.1f} ms "
        "(median) for /v1/health"
    )
