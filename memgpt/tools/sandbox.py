"""Run a custom tool's Python source in a separate process, without blocking the event loop.

Each call starts ``python -I memgpt/tools/sandbox_child.py`` (the interpreter memgpt runs on,
in isolated mode: no PYTHON* variables, no user site, no script directory on ``sys.path``)
in a fresh temporary directory with a minimal environment and its own process group. The
arguments go in as JSON on stdin; the child lowers its address-space, CPU-time and file-size
limits (POSIX ``resource``), runs the function and writes its result on stdout, tagged with a
nonce so that whatever else the tool writes there cannot pass for a result. The parent kills
the whole process group at the wall-clock timeout, keeps at most ``max_output`` bytes of
output, and turns every failure into ``ToolError``, which the loop gives the model as an
error result.

This is process isolation for robustness (a tool that crashes, hangs or eats memory cannot
take the server with it), not a security boundary: the tool runs as the server's user, can
read what that user can read and can open network connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memgpt.core.errors import ToolError

CHILD = Path(__file__).with_name("sandbox_child.py")
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class SandboxLimits:
    """How long and how much one tool call may take."""

    timeout: float = 30.0
    memory_mb: int = 1024
    max_output: int = 4 * 1024 * 1024


def _env(workdir: str) -> dict[str, str]:
    """The child's whole environment: no API keys or other secrets of the server's."""
    return {
        "PATH": os.defpath, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1",
    }


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
    """Kill the child and anything it started (its process group, which may outlive it)."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        elif proc.returncode is None:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code} without a result"


def _outcome(function: str, nonce: str, out: bytes, err: bytes, code: int | None) -> str:
    """The tool's result text, or ToolError saying what went wrong."""
    text = out.decode("utf-8", errors="replace")
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
    message = f"Tool {function} {_exit_reason(code)}."
    detail = (err.decode("utf-8", errors="replace").strip() or text.strip())[-800:]
    if "MemoryError" in detail or code == -signal.SIGKILL:
        message += " It may have run out of memory."
    if detail:
        message += f" Its last output:\n{detail}"
    raise ToolError(message[:MAX_ERROR_CHARS])


async def run_in_sandbox(
    source: str, function: str, args: dict[str, Any], *, limits: SandboxLimits, max_chars: int
) -> str:
    """Call ``function`` of ``source`` with ``args`` in a child process; its result as text.

    Raises ToolError for an exception in the tool, a timeout, a crash or a missing result.
    """
    nonce = secrets.token_hex(16)
    request = {
        "source": source, "function": function, "args": args, "nonce": nonce,
        "memory_mb": limits.memory_mb, "cpu_seconds": math.ceil(limits.timeout) + 1,
        "max_chars": max_chars,
    }
    payload = json.dumps(request).encode()
    with tempfile.TemporaryDirectory(prefix="memgpt-tool-") as workdir:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", str(CHILD),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=workdir, env=_env(workdir),
            start_new_session=True,
        )
        try:
            async with asyncio.timeout(limits.timeout):
                _, out, err = await asyncio.gather(
                    _feed(proc, payload), _tail(proc.stdout, limits.max_output),
                    _tail(proc.stderr, 64 * 1024),
                )
                code = await proc.wait()
        except TimeoutError as exc:
            raise ToolError(
                f"Tool {function} did not finish within {limits.timeout:g} seconds and was stopped."
            ) from exc
        finally:
            _kill(proc)
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()
    return _outcome(function, nonce, out, err, code)
