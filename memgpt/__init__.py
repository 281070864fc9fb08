"""memgpt: LLM agents that manage their own memory."""

from memgpt.llm.base import Model, ModelRequest, ModelResponse
from memgpt.llm.scripted import ScriptedModel
from memgpt.local import MemGPT
from memgpt.schemas import AgentState, Block, ContextReport, Message, Passage, SendResult, Step
from memgpt.service import AgentService
from memgpt.settings import Settings

__all__ = [
    "AgentService",
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
