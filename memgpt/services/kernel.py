"""The composition root: settings become storage, an embedder, models, tools and locks.

One ``Kernel`` per process (per database) is shared by every user's view of the service;
everything that holds a resource (connections, caches, locks, background tasks) lives here
and nowhere else, so the resource services above it stay plain code over one object.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from memgpt.core.errors import AgentBusyError, ModelNotFoundError
from memgpt.core.schemas import AgentState, Block, Message
from memgpt.core.settings import ModelEndpoint, Settings
from memgpt.embeddings import Embedder, embedder_from_spec
from memgpt.llm.base import Model
from memgpt.llm.providers import PROVIDERS, known_context_window, parse_spec, resolve_model, route
from memgpt.llm.tokens import estimate_tokens
from memgpt.memory import recall
from memgpt.memory.window import WindowCache
from memgpt.storage.factory import open_storage
from memgpt.tools.base import base_tools
from memgpt.tools.registry import ToolRegistry

ModelResolver = Callable[[str], Model]
log = logging.getLogger("memgpt.services")
LEASE_SECONDS = 60.0
"""How long a turn's lease on an agent lasts unless renewed (it is, every third of it)."""
CACHED_AGENTS = 1024
EMBED_DELAY = 0.2
"""Seconds between a turn and the embedding of its messages: turns that follow quickly are
embedded in one batch (searches embed whatever is pending first, so none is missed)."""


class Kernel:
    """Everything the services share: settings, stores, embedder, models, base tools, locks."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        models: Mapping[str, Model] | ModelResolver | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._models = models or {}
        self._resolved: dict[str, Model] = {}
        self.embedder = embedder or embedder_from_spec(self.settings.embedder)
        self.base_tools = ToolRegistry(base_tools())
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.storage = open_storage(self.settings.resolved_database_url())
        self.engine = self.storage.engine
        self.stores = self.storage.stores
        self.unit = self.storage.unit
        self.keys = self.storage.keys
        self.tool_store = self.storage.tools
        self.windows = WindowCache(self.stores.recall)
        self.holder = lease_holder_id()
        _OURS.add(self.holder)
        self._loaded: OrderedDict[tuple[str, str | None], Loaded] = OrderedDict()
        """Kept agents by (agent id, conversation id; None: the default thread)."""
        self._to_embed: set[str] = set()
        self._embedder_task: asyncio.Task[None] | None = None
        self._warm_up: asyncio.Task[int] | None = None
        self._opened = False
        self.closing: list[Callable[[], Awaitable[None]]] = []
        """Background work of service modules to stop before the database closes (file
        processing marks its files interrupted); each registers once."""

    async def open(self) -> None:
        """Create or migrate the database (once)."""
        if not self._opened:
            await self.storage.migrate()
            # the tokenizer loads in the background, so a first turn need not wait for it
            # and commands that never count tokens do not pay for it
            self._warm_up = asyncio.create_task(asyncio.to_thread(estimate_tokens, ""))
            self._opened = True

    async def close(self) -> None:
        """Stop the services' background work (``closing``), finish background embedding, then
        release database connections."""
        for stop in self.closing:
            await stop()
        await self.drain()
        warm_up, self._warm_up = self._warm_up, None
        if warm_up is not None and warm_up.get_loop() is asyncio.get_running_loop():
            await asyncio.gather(warm_up, return_exceptions=True)
        await self.storage.close()

    # --- models --------------------------------------------------------------------------------
    def model(self, name: str) -> Model:
        """The model under name: a configured one, else a provider spec like openai/gpt-4o."""
        if callable(self._models):
            return self._models(name)
        if name in self._models:
            return self._models[name]
        if name not in self._resolved:
            if "/" not in name:
                known = ", ".join(self._models) or "none"
                raise ModelNotFoundError(
                    f"no model named {name!r} (configured: {known}; or use provider/model, "
                    "e.g. openai/gpt-4o-mini)"
                )
            self._resolved[name] = resolve_model(
                name, endpoints=self.endpoints(), trusted=bool(self.settings.trust_model_urls),
                timeout=self.settings.llm_timeout, max_retries=self.settings.llm_max_retries,
            )
        return self._resolved[name]

    def endpoints(self) -> dict[str, ModelEndpoint]:
        """The base URLs the operator allows: MEMGPT_ENDPOINTS, and MEMGPT_MODEL's own URL
        (with its provider's key: the operator named both)."""
        out = dict(self.settings.endpoints)
        default = self.settings.model
        if default and "@" in default and default.split("/")[0] in PROVIDERS:
            spec = parse_spec(default)
            if spec.base_url and spec.base_url not in out:
                out["MEMGPT_MODEL"] = ModelEndpoint(
                    provider=spec.provider, base_url=spec.base_url,
                    api_key_env=PROVIDERS[spec.provider].key_env,
                )
        return out

    def check_model(self, name: str, *, trusted: bool | None = None) -> None:
        """Refuse (ModelNotFoundError) a model that cannot be used here, before anything is
        written: unknown, or naming a base URL the operator did not allow. ``trusted=False``
        checks input no operator typed (an agent file) even where callers are trusted."""
        if callable(self._models) or name not in self._models:
            if "@" in name and "/" in name:  # checked even when a resolver would accept it
                allow = bool(self.settings.trust_model_urls) if trusted is None else trusted
                route(name, self.endpoints(), trusted=allow)
        self.model(name)

    def model_names(self) -> list[str]:
        """Names of the configured models (and the default model, if set)."""
        names = [] if callable(self._models) else list(self._models)
        if self.settings.model and self.settings.model not in names:
            names.append(self.settings.model)
        return names

    def default_window(self, model: str) -> int:
        """The context window of a new agent on model: the known one, capped by settings."""
        known = known_context_window(model)
        if known is None:
            return self.settings.context_window
        return min(known, self.settings.max_default_window)

    # --- one turn at a time per agent ------------------------------------------------------------
    def _local_lock(self, agent_id: str) -> asyncio.Lock:
        lock = self._locks.get(agent_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[agent_id] = lock
        return lock

    @asynccontextmanager
    async def lock(self, agent_id: str) -> AsyncIterator[Lease]:
        """One turn at a time per agent: an asyncio lock in this process and a lease in the
        database across processes (renewed while held; no connection is held meanwhile).
        The lease says which version of the agent it found; a turn's last commit may give it
        back itself (``released``), saving a round trip.

        A turn in progress (here or in another process) is waited for at most
        ``settings.busy_wait`` seconds in all; then AgentBusyError, with nothing done."""
        deadline = asyncio.get_running_loop().time() + self.settings.busy_wait
        local = self._local_lock(agent_id)
        try:
            async with asyncio.timeout_at(deadline):
                await local.acquire()
        except TimeoutError:
            raise self._busy(agent_id) from None
        try:
            lease = Lease(agent_id, self.holder, await self._acquire(agent_id, deadline))
            renew = asyncio.create_task(self._renew(agent_id))
            try:
                yield lease
            finally:
                renew.cancel()
                await asyncio.gather(renew, return_exceptions=True)
                if not lease.released:
                    await asyncio.shield(self.unit.release(agent_id, self.holder))
        finally:
            local.release()

    def _busy(self, agent_id: str) -> AgentBusyError:
        """The refusal after waiting busy_wait: try again after as long (at most 20 s)."""
        wait = self.settings.busy_wait
        retry = max(1, math.ceil(min(wait, LEASE_SECONDS / 3)))
        return AgentBusyError(
            f"agent {agent_id} is busy with another turn (waited {wait:g} s, MEMGPT_BUSY_WAIT); "
            f"try again in {retry} s", retry_after=retry,
        )

    async def _acquire(self, agent_id: str, deadline: float) -> int:
        loop = asyncio.get_running_loop()
        delay = 0.005
        while True:
            version = await self.unit.acquire(agent_id, self.holder, LEASE_SECONDS)
            give_up = loop.time() >= deadline
            if version is None and (delay >= 0.04 or give_up):  # held a while: holder alive?
                held_by = await self.unit.holder(agent_id)
                if held_by is not None and holder_is_dead(held_by):
                    log.warning("agent %s: taking over the lease of dead process %s", agent_id, held_by)
                    version = await self.unit.take_over(agent_id, held_by, self.holder, LEASE_SECONDS)
            if version is not None:
                return version
            if give_up:
                raise self._busy(agent_id)
            await asyncio.sleep(min(delay, deadline - loop.time()))  # another process's turn
            delay = min(delay * 2, 0.25)

    async def _renew(self, agent_id: str) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            await self.unit.renew(agent_id, self.holder, LEASE_SECONDS)

    # --- what stays loaded between turns ------------------------------------------------------
    def cached(self, agent_id: str, version: int, conversation: str | None = None) -> Loaded | None:
        """The agent (in a conversation's thread) as its last turn here left it, if nothing
        has written to the agent since (a turn in any thread moves its version)."""
        key = (agent_id, conversation)
        hit = self._loaded.get(key)
        if hit is None or hit.state.version != version:
            return None
        self._loaded.move_to_end(key)
        return replace(hit, state=hit.state.model_copy(), blocks=list(hit.blocks),
                       context=list(hit.context), journal_clean=True)

    def peek(self, agent_id: str, owner: str) -> AgentState | None:
        """The kept state of owner's agent by id (its config may be one turn old; the lease
        tells whether it is current)."""
        hit = self._loaded.get((agent_id, None))
        return hit.state if hit is not None and hit.state.owner == owner else None

    def remember(self, kept: Loaded) -> None:
        """Keep an agent's state, blocks, window and tools after a committed turn (the caller
        hands them over; ``cached`` gives out copies)."""
        key = (kept.state.id, kept.conversation)
        self._loaded[key] = replace(kept, journal_clean=True)
        self._loaded.move_to_end(key)
        while len(self._loaded) > CACHED_AGENTS:
            self._loaded.popitem(last=False)

    def forget(self, agent_id: str) -> None:
        """Drop what is kept of an agent, in every thread (a turn failed half-way, or it
        was deleted)."""
        for key in [k for k in self._loaded if k[0] == agent_id]:
            del self._loaded[key]
        self.windows.drop(agent_id)

    # --- messages are embedded after the turn, off its critical path ---------------------------
    def embed_later(self, agent_id: str) -> None:
        """Embed the agent's new messages in the background (searches catch up themselves).
        One worker serves every agent, so the messages of many agents' turns are embedded
        in shared batches."""
        self._to_embed.add(agent_id)
        if self._embedder_task is None or self._embedder_task.done():
            self._embedder_task = asyncio.create_task(self._embed_all())

    async def _embed_all(self) -> None:
        while self._to_embed:
            await asyncio.sleep(EMBED_DELAY)  # let a burst of turns become one batch
            agents, self._to_embed = self._to_embed, set()
            try:
                await recall.embed_pending_many(self.stores.recall, self.embedder, sorted(agents), background=True)
            except Exception:  # the next search or turn catches up
                log.exception("embedding new messages of %d agents failed", len(agents))

    async def drain(self) -> None:
        """Wait for background embedding to finish."""
        while (task := self._embedder_task) is not None and not task.done():
            if task.get_loop() is not asyncio.get_running_loop():
                return  # another loop's worker: pending messages are caught up on use
            await asyncio.gather(task, return_exceptions=True)

def lease_holder_id() -> str:
    """This process as a lease holder: host and pid (so a process on the same host can tell
    when the holder has died) and a random part (so a reused pid is another holder)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


_OURS: set[str] = set()
"""Holder ids of the kernels this process has made."""


def holder_is_dead(holder: str) -> bool:
    """Whether a lease holder is a process of this host that no longer runs (an earlier
    process with this one's pid, as after a container restart, included). Holders on other
    hosts (several servers on one PostgreSQL) are never judged: their leases expire."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:30] or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return holder not in _OURS
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return _zombie(int(pid))


def _zombie(pid: int) -> bool:
    """Whether pid has exited and waits to be reaped (Linux; elsewhere: not known, False)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


@dataclass(frozen=True)
class Loaded:
    """An agent as kept between turns."""

    state: AgentState
    blocks: list[Block]
    context: list[Message]
    tools: ToolRegistry | None = None
    """The registry it ran with (None: build it)."""
    journal_clean: bool = False
    """No external tool call of it can be open (its last turn here finished them all)."""
    conversation: str | None = None
    """The thread it was kept in (None: the agent's default one)."""
    next_seq: int | None = None
    """The seq of the agent's next message in any thread (None: read it)."""
    window_tokens: int | None = None
    """Tokens of ``context`` (None: count them)."""
    archival_count: int | None = None
    """The agent's passages, if known without reading (a new agent: 0)."""


@dataclass
class Lease:
    """A held turn on an agent: the version found, and whether a commit gave it back."""

    agent_id: str
    holder: str
    version: int
    released: bool = False
