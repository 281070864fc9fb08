"""One Settings object, read from MEMGPT_* environment variables."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path(user_data_dir("memgpt", appauthor=False))


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
        description="Embedding model: local, hashing, openai[/MODEL], ollama/MODEL.",
    )
    llm_timeout: float = Field(default=120.0, gt=0, description="Seconds per model request.")
    llm_max_retries: int = Field(default=4, ge=0, description="Retries of failed requests.")
    warning_fraction: float = Field(default=0.75, gt=0.0, lt=1.0)
    max_chain_steps: int = Field(default=10, ge=1, description="Heartbeat steps per input.")
    repeat_limit: int = Field(default=3, ge=2, description="Identical calls that trip the breaker.")
    page_size: int = Field(default=5, ge=1, le=50, description="Search results per page.")
    summary_tokens: int = Field(default=400, ge=32, description="Cap on the recursive summary.")
    allow_custom_tools: bool = Field(
        default=True,
        description="Let users create custom tools from Python source and agents run them "
        "(in a subprocess: not a security boundary; turn off for untrusted users).",
    )
    tool_timeout: float = Field(default=30.0, gt=0, description="Seconds a custom tool call may run.")
    tool_memory_mb: int = Field(
        default=1024, ge=0, description="Address-space limit of a custom tool call, MiB (0: none)."
    )

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under home."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home / 'memgpt.db'}"
