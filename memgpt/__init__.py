"""memgpt: LLM agents that manage their own memory."""

from typing import TYPE_CHECKING, Any

from memgpt.llm.base import Model, ModelRequest, ModelResponse
from memgpt.llm.scripted import ScriptedModel
from memgpt.local import MemGPT
from memgpt.schemas import AgentState, Block, ContextReport, Message, Passage, SendResult, Step
from memgpt.service import AgentService
from memgpt.settings import Settings

if TYPE_CHECKING:
    from memgpt.client import Client


def __getattr__(name: str) -> Any:
    """memgpt.Client is imported on first use (it loads the HTTP stack)."""
    if name == "Client":
        from memgpt.client import Client

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
__version__ = "0.1.0"
