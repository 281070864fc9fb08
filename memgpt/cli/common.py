"""What every CLI command module shares: the --home option and running one job over the
service (settings from the environment, errors printed and turned into exit code 1)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from memgpt.core.errors import MemGPTError

if TYPE_CHECKING:
    from memgpt.core.settings import Settings
    from memgpt.services.service import AgentService

T = TypeVar("T")
console = Console()
Home = Annotated[Path | None, typer.Option(help="Data directory (default: MEMGPT_HOME).")]


def _settings(home: Path | None, *, operator: bool = True) -> Settings:
    """Settings from the environment, with --home in place of MEMGPT_HOME if given.

    ``operator``: whoever types the command is the operator, so a model may name any base
    URL (``--model vllm/X@http://host/v1``) unless MEMGPT_TRUST_MODEL_URLS says otherwise;
    the server passes False (its callers name only configured endpoints).
    """
    from memgpt.core.settings import Settings

    settings = Settings(home=home) if home else Settings()
    if operator and settings.trust_model_urls is None:
        settings = settings.model_copy(update={"trust_model_urls": True})
    return settings


def _run(home: Path | None, job: Callable[[AgentService], Awaitable[T]]) -> T:
    import asyncio

    from memgpt.services.service import default_service

    settings = _settings(home)

    async def main() -> T:
        async with default_service(settings) as svc:
            return await job(svc)

    try:
        return asyncio.run(main())
    except MemGPTError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
