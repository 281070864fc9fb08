"""The sandbox's child process: run one custom tool call and report it on stdout.

Started by ``memgpt.tools.sandbox`` as ``python -I sandbox_child.py`` inside the sandbox (its
launcher has already set the resource limits), in an empty private /tmp, with a minimal
environment. It reads one JSON request from stdin (source code, function name, arguments,
a nonce and the result's size cap), executes the source, calls the function and writes one
line ``<nonce>:<json envelope>`` to stdout. What the tool prints goes to a buffer, not to
stdout; anything it writes to the file descriptor directly is ignored by the parent, which
reads only the line carrying the nonce.

Standard library only: it must start fast and import nothing of memgpt.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import sys
import traceback
from typing import Any

SOURCE_NAME = "<tool>"
MAX_CAPTURED = 4000


def _as_text(value: Any) -> str:
    """A tool's return value as the text the model sees: str as is, else JSON, else str()."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _where(exc: BaseException) -> str:
    """' (line N of the tool)' for the innermost frame of the tool's own source, if any."""
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == SOURCE_NAME]
    return f" (line {lines[-1]} of the tool)" if lines else ""


def _clip(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f" [... {len(text) - max_chars} more characters cut]"


def _call(source: str, function: str, args: dict[str, Any]) -> str:
    namespace: dict[str, Any] = {"__name__": "__memgpt_tool__"}
    exec(compile(source, SOURCE_NAME, "exec"), namespace)  # the point of this process
    fn = namespace.get(function)
    if not callable(fn):
        raise LookupError(f"the source defines no function {function!r}")
    result = fn(**args)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return _as_text(result)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def main() -> None:
    """Read the request, run the call, write the envelope."""
    request = json.loads(sys.stdin.read())
    out = sys.stdout
    captured = io.StringIO()
    sys.stdout = sys.stderr = captured
    envelope: dict[str, Any]
    try:
        result = _call(request["source"], request["function"], request["args"])
        envelope = {"ok": True, "result": _clip(result, int(request["max_chars"]))}
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is the tool's result
        said = f": {exc}" if str(exc) else ""
        envelope = {"ok": False, "error": f"{type(exc).__name__}{said}{_where(exc)}"}
    finally:
        sys.stdout, sys.stderr = out, sys.__stderr__
    printed = captured.getvalue()
    if printed and not envelope["ok"]:
        envelope["printed"] = printed[-MAX_CAPTURED:]
    out.write("\n" + request["nonce"] + ":" + json.dumps(envelope) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
