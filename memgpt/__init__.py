"""memgpt: LLM agents that manage their own memory.

The public names below are imported on first use (module ``__getattr__``), so
``import memgpt`` is cheap and ``from memgpt import MemGPT`` loads only what MemGPT needs;
the service, storage, provider SDKs and the HTTP stack load when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from memgpt.core.version import VERSION

if TYPE_CHECKING:
    from memgpt.core.schemas import (
        AgentState,
        Block,
        ContextReport,
        Message,
        Passage,
        SendResult,
        Step,
    )
    from memgpt.core.settings import Settings
    from memgpt.llm.base import Model, ModelRequest, ModelResponse
    from memgpt.llm.scripted import ScriptedModel
    from memgpt.sdk.client import Client
    from memgpt.sdk.local import MemGPT
    from memgpt.services.service import AgentService

# public name -> the module that defines it
_EXPORTS = {
    "AgentService": "memgpt.services.service",
    "AgentState": "memgpt.core.schemas",
    "Block": "memgpt.core.schemas",
    "Client": "memgpt.sdk.client",
    "ContextReport": "memgpt.core.schemas",
    "MemGPT": "memgpt.sdk.local",
    "Message": "memgpt.core.schemas",
    "Model": "memgpt.llm.base",
    "ModelRequest": "memgpt.llm.base",
    "ModelResponse": "memgpt.llm.base",
    "Passage": "memgpt.core.schemas",
    "ScriptedModel": "memgpt.llm.scripted",
    "SendResult": "memgpt.core.schemas",
    "Settings": "memgpt.core.settings",
    "Step": "memgpt.core.schemas",
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (then cached here)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'memgpt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "AgentService",
    "AgentState",
    "Block",
    "Client",
    "ContextReport",
    "MemGPT",
    "Message",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "Passage",
    "ScriptedModel",
    "SendResult",
    "Settings",
    "Step",
]
__version__ = VERSION
