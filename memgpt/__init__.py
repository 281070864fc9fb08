"""memgpt: LLM agents that manage their own memory."""

from typing import TYPE_CHECKING, Any

from memgpt.llm.base import Model, ModelRequest, ModelResponse
from memgpt.llm.scripted import ScriptedModel
from memgpt.sdk.local import MemGPT
from memgpt.core.schemas import AgentState, Block, ContextReport, Message, Passage, SendResult, Step
from memgpt.services.service import AgentService
from memgpt.core.settings import Settings
from memgpt.core.version import VERSION

if TYPE_CHECKING:
    from memgpt.sdk.client import Client


def __getattr__(name: str) -> Any:
    """memgpt.Client is imported on first use (it loads the HTTP stack)."""
    if name == "Client":
        from memgpt.sdk.client import Client

        return Client
    raise AttributeError(f"module 'memgpt' has no attribute {name!r}")


__all__ = [
    "AgentService",
    "Client",
    "AgentState",
    "Block",
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
