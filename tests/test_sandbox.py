"""The custom tool sandbox holds: each escape a probe of the old subprocess runner made is
tried again by a real custom tool, run through the service like any call, and must fail:
the server's environment, the database file, a loopback socket, 200 processes, 1 GB of
writes, a ``setsid`` daemon outliving the timeout. Normal tools still work, a machine
without bubblewrap refuses custom tools unless the operator opts in (and says so at start),
and a server that requires keys has custom tools off unless turned on."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.errors import FeatureDisabledError
from memgpt.llm.scripted import reply, tool_call
from memgpt.tools import sandbox

TIMEOUT = 10.0
DISK_MB = 8
PROCESSES = 16


def pids_named(comm: str) -> list[int]:
    """Host pids of live processes whose name (/proc/PID/comm) is comm."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/comm") as f:
                    if f.read().strip() == comm and alive(int(entry.name)):
                        found.append(int(entry.name))
            except OSError:
                pass
    return found


def alive(pid: int) -> bool:
    """Whether pid is a live process (a zombie, killed but not yet reaped, is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def kill_named(comm: str) -> None:
    """Never leave a process of a test behind, whatever failed."""
    for pid in pids_named(comm):
        os.kill(pid, signal.SIGKILL)


async def until(predicate: Any, seconds: float) -> bool:
    """Poll predicate until true or seconds have passed; its last value."""
    for _ in range(int(seconds * 20)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


def marker() -> str:
    """A process name (15 characters at most) no other process has."""
    return "mg" + secrets.token_hex(6)


async def run_tool(svc: AgentService, model: ScriptedModel, source: str, **args: Any) -> tuple[str, bool]:
    """Create the tool, attach it to a new agent, have the model call it: (content, is_error)."""
    tool = await svc.create_tool(source)
    agent = await svc.create_agent(f"agent-{secrets.token_hex(4)}", model="scripted")
    await svc.attach_tool(agent.id, tool.id)
    model.push(tool_call(tool.name, request_heartbeat=False, **args), reply("done"))
    result = await svc.send_message(agent.id, "go")
    model.queue.clear()  # the reply is asked for only after a failed call
    [first, *_] = [r for m in result.messages for r in m.tool_results]
    return first.content, first.is_error


@pytest.fixture
async def svc(tmp_path: Path, model: ScriptedModel) -> AsyncIterator[AgentService]:
    """A service whose tools get small limits: 8 MiB of disk, 16 processes."""
    settings = Settings(home=tmp_path / "home", tool_timeout=TIMEOUT, tool_memory_mb=512,
                        tool_disk_mb=DISK_MB, tool_processes=PROCESSES)
    async with AgentService(settings, models={"scripted": model}) as service:
        yield service


# --- the escapes ---------------------------------------------------------------------------------
ENV_SPY = '''
import os


def env_spy(variable: str) -> dict:
    """Look for a variable in the parent's and every other process's environment.

    Args:
        variable: The variable's name.
    """
    found = {}
    pids = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    for pid in [str(os.getppid()), *pids]:
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                data = f.read()
        except OSError:
            continue
        for item in data.split(b"\\0"):
            if item.startswith(variable.encode() + b"="):
                found[pid] = item.decode(errors="replace")
    return {"ppid": os.getppid(), "found": found, "processes": len(pids)}
'''

SERVER = '''
import asyncio, json, sys
from memgpt import AgentService, ScriptedModel, Settings
from memgpt.llm.scripted import tool_call


async def main() -> None:
    model = ScriptedModel()
    async with AgentService(Settings(home=sys.argv[1]), models={"scripted": model}) as svc:
        tool = await svc.create_tool(sys.stdin.read())
        agent = await svc.create_agent("spy", model="scripted")
        await svc.attach_tool(agent.id, tool.id)
        model.push(tool_call(tool.name, variable=sys.argv[2], request_heartbeat=False))
        result = await svc.send_message(agent.id, "go")
        print(json.dumps([(r.content, r.is_error) for m in result.messages for r in m.tool_results]))


asyncio.run(main())
'''


def test_tool_cannot_read_the_servers_environment(tmp_path: Path) -> None:
    """A server process started with a secret in its environment (as API keys are) runs a tool
    that reads /proc/<parent>/environ and scans every /proc/*/environ: it finds nothing."""
    name, secret = "MEMGPT_SANDBOX_TEST_SECRET", "sk-" + secrets.token_hex(16)
    env = {**os.environ, name: secret, "MEMGPT_EMBEDDER": "hashing"}
    done = subprocess.run([sys.executable, "-c", SERVER, str(tmp_path / "home"), name], input=ENV_SPY,
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    [(content, failed)] = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failed, content
    assert secret not in content and json.loads(content)["found"] == {}, content


DB_SPY = '''
import sqlite3


def db_spy(path: str) -> dict:
    """Read and change the server's database file directly.

    Args:
        path: The database file.
    """
    said = {}
    try:
        with open(path, "rb") as f:
            said["read"] = f"{len(f.read())} bytes"
    except OSError as exc:
        said["read"] = f"refused: {exc}"
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
        said["values"] = [row[0] for row in db.execute("SELECT value FROM blocks")]
        db.execute("UPDATE blocks SET value = 'pwned'")
        db.commit()
        said["write"] = "done"
    except Exception as exc:
        said["write"] = f"refused: {exc}"
    return said
'''


async def test_tool_cannot_open_the_database(svc: AgentService, model: ScriptedModel) -> None:
    """Another user's block is in the SQLite file under MEMGPT_HOME; the tool can neither read
    the file nor change the block through it."""
    secret = "bob-secret-" + secrets.token_hex(8)
    bob = svc.scoped("bob")
    agent = await bob.create_agent("bobs", model="scripted", human=secret)
    path = svc.settings.home / "memgpt.db"
    assert secret.encode() in path.read_bytes() or path.with_name("memgpt.db-wal").exists()
    content, failed = await run_tool(svc, model, DB_SPY, path=str(path))
    assert not failed, content
    said = json.loads(content)
    assert said["read"].startswith("refused") and said["write"].startswith("refused"), said
    assert secret not in content
    assert (await bob.get_block(agent.id, "human")).value == secret


SOCKET_SPY = '''
import socket


def dial(port: int) -> str:
    """Connect to a port on the loopback address.

    Args:
        port: The port.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3):
            return "connected"
    except OSError as exc:
        return f"refused: {exc}"
'''


@pytest.mark.parametrize("network", [False, True])
async def test_tool_network_only_when_allowed(tmp_path: Path, model: ScriptedModel, network: bool) -> None:
    """A TCP connect to a listener of the test on 127.0.0.1 fails, and the listener sees no
    connection; with MEMGPT_TOOL_NETWORK=true the same tool connects."""
    settings = Settings(home=tmp_path / "home", tool_timeout=TIMEOUT, tool_network=network)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        async with AgentService(settings, models={"scripted": model}) as service:
            content, failed = await run_tool(service, model, SOCKET_SPY, port=listener.getsockname()[1])
        assert not failed, content
        try:
            listener.accept()[0].close()
            reached = True
        except BlockingIOError:
            reached = False
    if network:
        assert content == "connected" and reached
    else:
        assert content.startswith("refused") and not reached, content


FORKER = '''
import os


def forker(count: int) -> int:
    """Start count processes that wait for this one to end; how many started.

    Args:
        count: How many to start.
    """
    r, w = os.pipe()
    started = 0
    for _ in range(count):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os.close(w)
            os.read(r, 1)
            os._exit(0)
        started += 1
    return started
'''


async def test_tool_cannot_start_200_processes(svc: AgentService, model: ScriptedModel) -> None:
    """Forking stops at the process limit (16 here), far below the 200 asked for."""
    content, failed = await run_tool(svc, model, FORKER, count=200)
    assert not failed, content
    assert 0 < int(content) < PROCESSES, content


WRITER = '''
import os


def writer(outside: str) -> dict:
    """Write up to 1 GiB in 1 MiB chunks to files in the work dir, and a file outside it.

    Args:
        outside: A directory of the server's.
    """
    chunk, written, error = b"x" * (1 << 20), 0, None
    try:
        while written < 1 << 30:
            with open(f"data-{written >> 25}", "ab") as f:
                f.write(chunk)
            written += len(chunk)
    except OSError as exc:
        error = str(exc)
    escapes = []
    for place in (outside, "/", "/usr", "/dev", os.path.dirname(os.__file__)):
        try:
            with open(os.path.join(place, "escaped"), "wb") as f:
                f.write(b"x")
            escapes.append(place)
        except OSError:
            pass
    return {"written": written, "error": error, "escapes": escapes}
'''


async def test_tool_writes_stop_at_the_disk_cap(svc: AgentService, model: ScriptedModel, tmp_path: Path) -> None:
    """1 GiB of writes stop at the 8 MiB cap (quickly), and nothing lands outside the work dir."""
    outside = tmp_path / "outside"
    outside.mkdir()
    content, failed = await run_tool(svc, model, WRITER, outside=str(outside))
    assert not failed, content
    said = json.loads(content)
    assert said["written"] <= DISK_MB << 20 and said["error"], said
    assert said["escapes"] == [] and list(outside.iterdir()) == []


DAEMON = '''
import os
import time


def daemon(label: str) -> str:
    """Start a setsid daemon (double fork) named label, then run past the timeout.

    Args:
        label: The daemon's process name.
    """
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open("/proc/self/comm", "w") as f:
                f.write(label)
            while True:
                time.sleep(0.05)
        os._exit(0)
    while True:
        time.sleep(0.05)
'''


async def test_setsid_daemon_dies_at_the_timeout(tmp_path: Path, model: ScriptedModel) -> None:
    """The daemon is seen running on the host during the call, and is gone after the timeout."""
    settings = Settings(home=tmp_path / "home", tool_timeout=3)
    name = marker()
    try:
        async with AgentService(settings, models={"scripted": model}) as service:
            call = asyncio.create_task(run_tool(service, model, DAEMON, label=name))
            assert await until(lambda: pids_named(name), 30), "the daemon never started"
            content, failed = await asyncio.wait_for(call, 30)
        assert failed and "did not finish within 3 seconds" in content
        assert await until(lambda: not pids_named(name), 5), "the daemon outlived the timeout"
    finally:
        kill_named(name)


# --- what still works ----------------------------------------------------------------------------
WORKER = '''
import os


def worker(x: int, fail: bool = False) -> dict:
    """Add one, or fail.

    Args:
        x: A number.
        fail: Raise instead.
    """
    if fail:
        raise ValueError(f"no {x}")
    return {"y": x + 1, "uid": os.getuid(), "cwd": os.getcwd(), "home": os.environ["HOME"],
            "root": sorted(os.listdir("/"))}
'''


async def test_a_normal_tool_runs_in_the_sandbox(svc: AgentService, model: ScriptedModel) -> None:
    """A result and an exception come back as ever; the tool ran as another uid, in /tmp, and
    sees no home or data directory of the server's."""
    content, failed = await run_tool(svc, model, WORKER, x=41)
    assert not failed, content
    said = json.loads(content)
    assert said["y"] == 42 and said["cwd"] == said["home"] == "/tmp" and said["uid"] != os.getuid()
    assert "home" not in said["root"] and "etc" not in said["root"]
    content, failed = await run_tool(svc, model, WORKER.replace("worker", "worker2"), x=1, fail=True)
    assert failed and "ValueError: no 1" in content, content


def no_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: None)


async def test_without_bwrap_tools_are_refused_unless_the_operator_opts_in(
    tmp_path: Path, model: ScriptedModel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No bubblewrap: the server says so at start and refuses custom tools, naming the setting;
    with MEMGPT_UNSANDBOXED_TOOLS=true it warns and runs them as plain subprocesses."""
    no_bwrap(monkeypatch)
    served: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.append(app))
    from memgpt.server import run

    caplog.set_level(logging.INFO, "memgpt.server")
    run("127.0.0.1", 0, settings=Settings(home=tmp_path / "a"), require_key=False)
    assert served and "no sandbox" in caplog.text and "MEMGPT_UNSANDBOXED_TOOLS=true" in caplog.text
    async with AgentService(Settings(home=tmp_path / "a"), models={"scripted": model}) as off:
        with pytest.raises(FeatureDisabledError, match="bubblewrap.*MEMGPT_UNSANDBOXED_TOOLS=true"):
            await off.create_tool(WORKER)
    caplog.clear()
    opted = Settings(home=tmp_path / "b", tool_timeout=TIMEOUT, unsandboxed_tools=True)
    run("127.0.0.1", 0, settings=opted, require_key=False)
    assert "WITHOUT a sandbox" in caplog.text
    async with AgentService(opted, models={"scripted": model}) as on:
        content, failed = await run_tool(on, model, WORKER, x=1)
    assert not failed and json.loads(content)["y"] == 2 and "memgpt-tool-" in json.loads(content)["cwd"]


@pytest.mark.parametrize("allow", [None, True])
async def test_keys_required_turns_custom_tools_off_unless_enabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, allow: bool | None
) -> None:
    """``memgpt server`` with keys required: creating a custom tool is 403 naming
    MEMGPT_ALLOW_CUSTOM_TOOLS (said at start too), unless the operator set it to true."""
    served: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.append(app))
    from memgpt.server import run

    run("127.0.0.1", 0, settings=Settings(home=tmp_path / "home", allow_custom_tools=allow), require_key=True)
    [app] = served
    async with app.router.lifespan_context(app):
        _, key = await app.state.service.create_api_key("alice")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     headers={"Authorization": f"Bearer {key}"}) as http:
            r = await http.post("/v1/tools/", json={"source_code": WORKER})
    if allow:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403 and r.json()["type"] == "FeatureDisabledError", r.text
        assert "MEMGPT_ALLOW_CUSTOM_TOOLS=true" in r.json()["detail"]
        assert "MEMGPT_ALLOW_CUSTOM_TOOLS=true" in caplog.text
