"""Background work at a lower CPU priority than the turns it serves.

Embedding new messages (and the other catch-up work done after a turn) takes tens of
milliseconds of CPU per message with the local model, more than the turn itself. Run on an
ordinary thread, it competes for the cores with the event loop that answers requests: on a
2-core machine a burst of turns left the loop about half the CPU it needed while their
messages were embedded. `run` hands such work to one worker thread that lowers its own
scheduling priority (``nice``, Linux: per thread) when it starts; threads it starts later
(a native engine's OpenMP pool) inherit the priority. When the machine is otherwise idle the
work runs at full speed; when turns are waiting it yields to them.

Priority is best effort: where a thread's priority cannot be set (not Linux, or refused),
the worker runs at normal priority, as before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

log = logging.getLogger(__name__)

NICENESS = 10
"""How much lower the worker's priority is (Linux CFS: a nice-10 thread gets about a tenth of
a core's time against a busy nice-0 thread, all of it when nothing else runs)."""

P = ParamSpec("P")
T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def lower_priority() -> bool:
    """Lower the calling thread's CPU priority by `NICENESS`; whether it could."""
    if not sys.platform.startswith("linux"):  # elsewhere setpriority(PRIO_PROCESS, 0) is the whole process
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + NICENESS))
    except OSError as exc:
        log.debug("background work keeps normal priority: %s", exc)
        return False
    return True


def _executor_here() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memgpt-background",
                                           initializer=lower_priority)
        return _executor


async def run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """fn(*args, **kwargs) on the low-priority worker thread (one per process, so background
    jobs run one after another and never hold more than the cores they use)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor_here(), lambda: fn(*args, **kwargs))
