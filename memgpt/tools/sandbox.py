"""Run untrusted code (a custom tool's Python source; later stdio MCP servers) in a sandbox.

The sandbox is Debian's bubblewrap (``bwrap`` 0.8 or newer). Each run gets private PID, mount,
network, IPC and UTS namespaces; a root that is an empty read-only tmpfs with only the system
directories (/usr and the /bin, /lib links), the Python installation memgpt runs on and the
memgpt package bound read-only (never memgpt's home with its database and keys); its own
/proc (no other process of the machine is visible) and a minimal /dev; a writable /tmp that is
a tmpfs of ``disk_mb`` (the work dir, HOME and TMPDIR). Inside, a tiny launcher sets the
rlimits (address space, CPU seconds, file size, processes, no core dumps) and, when the server
runs as root, switches to a fresh unprivileged uid of its own before starting the command; a
non-root server's sandbox runs as uid 65534 of a new user namespace instead. The whole tree
dies with the PID namespace when bwrap is killed at the timeout (``--die-with-parent``), so a
``setsid`` daemon cannot outlive the call. There is no network unless the operator allows it.

Where bwrap is missing or cannot create namespaces, custom tools are refused unless the
operator opts in to running them as plain subprocesses (``MEMGPT_UNSANDBOXED_TOOLS=true``):
rlimits and a process group, no isolation. ``sandbox_status`` says which case holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memgpt.core.errors import ToolError
from memgpt.core.settings import Settings

CHILD = Path(__file__).with_name("sandbox_child.py")
PACKAGE = Path(__file__).resolve().parents[1]
MAX_ERROR_CHARS = 2000
WORKDIR = "/tmp"
NOBODY = 65534
FRESH_UIDS = (0x7000_0000, 0x7FFF_0000)
"""Where a root server picks each run's uid: a range no account uses, so no file on the host
belongs to it and the process limit counts only that run's processes."""
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf",
                 "/etc/services", "/etc/protocols", "/etc/ssl/certs", "/etc/ca-certificates")
"""What name resolution and TLS need; bound only when tools may use the network."""
SHM_BYTES = 1024 * 1024

LAUNCHER = """\
import os, resource as r, sys
spec = [int(v) for v in sys.argv[1].split(",")]
kinds = (r.RLIMIT_AS, r.RLIMIT_CPU, r.RLIMIT_FSIZE, r.RLIMIT_NPROC, r.RLIMIT_CORE)
for kind, value in zip(kinds, spec):
    if value >= 0:
        hard = r.getrlimit(kind)[1]
        value = value if hard == r.RLIM_INFINITY else min(value, hard)
        extra = 1 if kind == r.RLIMIT_CPU and hard == r.RLIM_INFINITY else 0
        r.setrlimit(kind, (value, value + extra))
if spec[5] >= 0:
    os.setgroups([]); os.setgid(spec[5]); os.setuid(spec[5])
os.execvp(sys.argv[2], sys.argv[2:])
"""
"""Set the limits (CPU: SIGXCPU, then SIGKILL a second later), drop to the run's uid, exec."""


@dataclass(frozen=True)
class SandboxLimits:
    """How long and how much one run may take, and what it may reach."""

    timeout: float = 30.0
    memory_mb: int = 1024
    max_output: int = 4 * 1024 * 1024
    processes: int = 32
    disk_mb: int = 64
    network: bool = False
    unsandboxed: bool = False
    """Run as a plain subprocess when no sandbox is available (the operator's explicit opt-in)."""
    hidden: tuple[str, ...] = ()
    """Directories to cover with an empty tmpfs should they lie under a bound path (memgpt's home)."""


def limits_for(settings: Settings) -> SandboxLimits:
    """The limits of a custom tool call under these settings."""
    return SandboxLimits(
        timeout=settings.tool_timeout, memory_mb=settings.tool_memory_mb,
        processes=settings.tool_processes, disk_mb=settings.tool_disk_mb,
        network=settings.tool_network, unsandboxed=settings.unsandboxed_tools,
        hidden=(str(settings.home),),
    )


@dataclass(frozen=True)
class SandboxStatus:
    """Whether runs are sandboxed here, and how (or why not), in words for the operator."""

    available: bool
    detail: str


def find_bwrap() -> str | None:
    """The bwrap executable on PATH, if any."""
    return shutil.which("bwrap")


_status: dict[tuple[str, int], SandboxStatus] = {}


def sandbox_status() -> SandboxStatus:
    """Whether bwrap is here and works (one trial run, remembered): what callers check first."""
    bwrap = find_bwrap()
    if bwrap is None:
        return SandboxStatus(False, "bubblewrap (bwrap) is not installed")
    key = (bwrap, os.geteuid())
    if key not in _status:
        _status[key] = _probe(bwrap)
    return _status[key]


def _probe(bwrap: str) -> SandboxStatus:
    argv, env = sandbox_command([sys.executable, "-I", "-S", "-c", "pass"], SandboxLimits(), bwrap=bwrap)
    try:
        done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SandboxStatus(False, f"bubblewrap at {bwrap} does not run: {exc}")
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", errors="replace").strip()[-300:]
        return SandboxStatus(False, f"bubblewrap at {bwrap} cannot make a sandbox here: {said}")
    who = "a fresh uid per run" if os.geteuid() == 0 else f"uid {NOBODY} of a user namespace"
    return SandboxStatus(True, f"bubblewrap at {bwrap}, as {who}")


def custom_tools_refusal(settings: Settings) -> str | None:
    """Why custom tools may not be created or run under these settings; None if they may."""
    if settings.allow_custom_tools is False:
        return ("custom tools are turned off on this server (MEMGPT_ALLOW_CUSTOM_TOOLS=false; "
                "they are off by default when API keys are required): set "
                "MEMGPT_ALLOW_CUSTOM_TOOLS=true to turn them on")
    status = sandbox_status()
    if not status.available and not settings.unsandboxed_tools:
        return (f"custom tools cannot run here: there is no sandbox ({status.detail}); install "
                "bubblewrap, or set MEMGPT_UNSANDBOXED_TOOLS=true to run them without one "
                "(only if every user may run code as the server)")
    return None


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _python_dirs() -> list[str]:
    """The interpreter's installation and the memgpt package, as real paths."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(sys.executable).resolve().parent.parent), str(PACKAGE)}
    return sorted({os.path.realpath(p) for p in paths} | {os.path.abspath(p) for p in paths})


def _mounts(limits: SandboxLimits) -> list[str]:
    """bwrap's filesystem arguments: read-only system and Python, private /proc, /dev, /tmp."""
    args: list[str] = []
    bound: list[str] = []
    made: set[str] = set()
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
            bound.append(path)
    extra = [p for p in _python_dirs() if os.path.isdir(p)]
    if limits.network:
        extra += [p for p in NETWORK_FILES if os.path.exists(p)]
    for path in sorted(extra, key=len):
        if _under(path, bound):
            continue
        for parent in reversed(Path(path).parents[:-1]):  # bwrap would make them 0700
            if str(parent) not in made and not _under(str(parent), bound):
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        args += ["--ro-bind", path, path]
        bound.append(path)
    for path in limits.hidden:
        real = os.path.realpath(path)
        if _under(real, bound) and os.path.isdir(real):  # empty, tiny, and not the tool's
            args += ["--perms", "0000", "--size", "4096", "--tmpfs", real]
    disk = max(1, limits.disk_mb) * 1024 * 1024
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
             "--perms", "1777", "--size", str(disk), "--tmpfs", WORKDIR,
             "--remount-ro", "/dev", "--remount-ro", "/"]
    return args


def _spec(limits: SandboxLimits, *, nproc: bool, uid: int) -> str:
    """The launcher's limits: address space, CPU, file size, processes, core; then the uid."""
    memory = limits.memory_mb * 1024 * 1024 if limits.memory_mb > 0 else -1
    values = [memory, math.ceil(limits.timeout) + 1, max(1, limits.disk_mb) * 1024 * 1024,
              limits.processes if nproc else -1, 0, uid]
    return ",".join(str(v) for v in values)


def _env(home: str) -> dict[str, str]:
    """The whole environment of the run (and of bwrap): none of the server's secrets."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }


def sandbox_command(
    argv: Sequence[str], limits: SandboxLimits, *, bwrap: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run ``argv`` in the sandbox under ``limits``.

    For callers that keep the process (a stdio MCP server): start it in a new session and
    kill its process group to end it; everything inside dies with it.
    """
    bwrap = bwrap or find_bwrap()
    if bwrap is None:
        raise ToolError("no sandbox: bubblewrap (bwrap) is not installed")
    root = os.geteuid() == 0
    cmd = [bwrap, "--die-with-parent", "--new-session"]
    if root:  # a user namespace would map root to root: switch to a fresh uid instead
        cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        cmd += [] if limits.network else ["--unshare-net"]
        uid = FRESH_UIDS[0] + secrets.randbelow(FRESH_UIDS[1] - FRESH_UIDS[0])
    else:
        cmd += ["--unshare-all", "--unshare-user", "--disable-userns", "--uid", str(NOBODY), "--gid", str(NOBODY)]
        cmd += ["--share-net"] if limits.network else []
        uid = -1
    cmd += ["--hostname", "sandbox", *_mounts(limits), "--chdir", WORKDIR, "--"]
    cmd += [sys.executable, "-I", "-S", "-c", LAUNCHER, _spec(limits, nproc=True, uid=uid), *argv]
    return cmd, _env(WORKDIR)


@dataclass(frozen=True)
class Finished:
    """What a run left: its exit code (negative: killed by that signal) and output."""

    code: int | None
    stdout: bytes
    stderr: bytes


async def _tail(stream: asyncio.StreamReader | None, cap: int) -> bytes:
    """Everything a stream carries until EOF, of which the last ``cap`` bytes are kept."""
    kept = bytearray()
    if stream is None:
        return b""
    while chunk := await stream.read(65536):
        kept += chunk
        if len(kept) > cap:
            del kept[: len(kept) - cap]
    return bytes(kept)


async def _feed(proc: asyncio.subprocess.Process, payload: bytes) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(payload)
        await proc.stdin.drain()
        proc.stdin.close()


def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill the run's process group: bwrap, whose death takes its PID namespace with it
    (unsandboxed: the tool and what it started in its group)."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        elif proc.returncode is None:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


async def _run(argv: list[str], env: dict[str, str], cwd: str | None, stdin: bytes,
               limits: SandboxLimits) -> Finished:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=cwd, env=env, start_new_session=True,
    )
    try:
        async with asyncio.timeout(limits.timeout):
            _, out, err = await asyncio.gather(
                _feed(proc, stdin), _tail(proc.stdout, limits.max_output),
                _tail(proc.stderr, 64 * 1024),
            )
            code = await proc.wait()
    finally:
        _kill(proc)
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()
    return Finished(code, out, err)


async def run_sandboxed(argv: Sequence[str], stdin: bytes, limits: SandboxLimits) -> Finished:
    """Run ``argv`` with ``stdin`` in the sandbox, or unsandboxed if allowed and none is here.

    Raises TimeoutError at ``limits.timeout`` (after killing everything the run started) and
    ToolError when there is no sandbox and ``limits.unsandboxed`` is not set.
    """
    status = sandbox_status()
    if status.available:
        command, env = sandbox_command(argv, limits)
        return await _run(command, env, None, stdin, limits)
    if not limits.unsandboxed:
        raise ToolError(f"no sandbox to run this in ({status.detail}); the operator can set "
                        "MEMGPT_UNSANDBOXED_TOOLS=true to run custom tools without one")
    with tempfile.TemporaryDirectory(prefix="memgpt-tool-") as workdir:
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, _spec(limits, nproc=False, uid=-1)]
        if os.name != "posix":  # no rlimits to set, and exec would detach the child
            launcher = []
        return await _run([*launcher, *argv], _env(workdir), workdir, stdin, limits)


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code} without a result"


def _outcome(function: str, nonce: str, done: Finished) -> str:
    """The tool's result text, or ToolError saying what went wrong."""
    text = done.stdout.decode("utf-8", errors="replace")
    tag = nonce + ":"
    line = next((ln for ln in reversed(text.splitlines()) if ln.startswith(tag)), None)
    envelope: Any = None
    if line is not None:
        with contextlib.suppress(json.JSONDecodeError):
            envelope = json.loads(line[len(tag):])
    if isinstance(envelope, dict) and envelope.get("ok") is True and isinstance(envelope.get("result"), str):
        result: str = envelope["result"]
        return result
    if isinstance(envelope, dict) and envelope.get("ok") is False:
        message = f"Error in tool {function}: {envelope.get('error')}"
        if envelope.get("printed"):
            message += f"\nIt printed:\n{envelope['printed']}"
        raise ToolError(message[:MAX_ERROR_CHARS])
    message = f"Tool {function} {_exit_reason(done.code)}."
    detail = (done.stderr.decode("utf-8", errors="replace").strip() or text.strip())[-800:]
    if "MemoryError" in detail or done.code == -signal.SIGKILL:
        message += " It may have run out of memory."
    if detail:
        message += f" Its last output:\n{detail}"
    raise ToolError(message[:MAX_ERROR_CHARS])


async def run_in_sandbox(
    source: str, function: str, args: dict[str, Any], *, limits: SandboxLimits, max_chars: int
) -> str:
    """Call ``function`` of ``source`` with ``args`` in the sandbox; its result as text.

    The arguments go in as JSON on stdin; ``sandbox_child.py`` writes the result tagged with
    a nonce, so that whatever else the tool writes to stdout cannot pass for a result.
    Raises ToolError for an exception in the tool, a timeout, a crash or a missing result.
    """
    nonce = secrets.token_hex(16)
    request = {"source": source, "function": function, "args": args, "nonce": nonce,
               "max_chars": max_chars}
    try:
        done = await run_sandboxed([sys.executable, "-I", str(CHILD)], json.dumps(request).encode(), limits)
    except TimeoutError as exc:
        raise ToolError(
            f"Tool {function} did not finish within {limits.timeout:g} seconds and was stopped."
        ) from exc
    return _outcome(function, nonce, done)
