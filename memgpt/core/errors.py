"""The exceptions memgpt raises to its callers.

Errors made by the model (bad tool calls, edits that break a block's rules) are not raised:
they go back to the model as tool results. Only operator errors raise.
"""

from __future__ import annotations


class MemGPTError(Exception):
    """Base class of every error memgpt raises."""


class NotFoundError(MemGPTError):
    """An agent, block, message or passage does not exist."""


class AlreadyExistsError(MemGPTError):
    """A resource with that unique name already exists."""


class InvalidRequestError(MemGPTError):
    """The caller passed arguments that cannot be honoured."""


class InvalidTextError(InvalidRequestError):
    """Text that cannot be stored or sent to a model: a lone UTF-16 surrogate or a NUL.

    Raised (not a ValueError) from pydantic validators too, so it passes through them as is."""


class FeatureDisabledError(MemGPTError):
    """The server's settings turn the requested feature off (e.g. custom tools)."""


class ToolError(MemGPTError):
    """A tool call failed; the message is returned to the model as the tool result."""


class BlockError(ToolError):
    """A memory block edit broke a rule (limit, read-only, missing text)."""


class ToolDefinitionError(MemGPTError):
    """A tool's signature or docstring cannot produce a valid schema."""


class ModelError(MemGPTError):
    """The language model could not produce a response."""


class MalformedReplyError(ModelError):
    """The model's reply could not be read: not JSON, the wrong shape, or empty."""


class ModelTimeoutError(ModelError):
    """The model did not answer in time (after the provider SDK's retries)."""


class AgentBusyError(MemGPTError):
    """The agent was busy with another turn for longer than the caller may wait."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds after which trying again is worthwhile (sent as Retry-After)."""


class ModelNotFoundError(ModelError):
    """No model is configured under the requested name."""


class ScriptExhaustedError(ModelError):
    """A ScriptedModel was asked for more responses than were scripted."""


class ContextOverflowError(ModelError):
    """The request cannot be made to fit the model's context window."""


class EmbeddingMismatchError(MemGPTError):
    """Passages were embedded with a different model than the one searching them."""


class OverloadedError(MemGPTError):
    """The server cannot take this request now (too busy); the client may try again later."""
