"""What ``memgpt eval`` does once its options are read: set up the service, run, save."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from memgpt.core.errors import InvalidRequestError
from memgpt.core.settings import Settings
from memgpt.evals import EvalConfig, run_eval
from memgpt.evals.harness import Progress
from memgpt.services.service import default_service


def parse_ints(text: str, option: str, allowed: range) -> tuple[int, ...]:
    """``"1,2,3"`` as integers, each within ``allowed``; InvalidRequestError naming the option."""
    try:
        values = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError as exc:
        raise InvalidRequestError(f"{option} takes comma-separated integers, not {text!r}") from exc
    if not values or any(v not in allowed for v in values):
        raise InvalidRequestError(f"{option} takes values from {allowed.start} to {allowed.stop - 1}, not {text!r}")
    return tuple(dict.fromkeys(values))


def operator_settings(home: Path) -> Settings:
    """Settings for ``home``; whoever runs an evaluation types the model, so it may name a base
    URL (as for every CLI command) unless MEMGPT_TRUST_MODEL_URLS says otherwise."""
    settings = Settings(home=home)
    if settings.trust_model_urls is None:
        settings = settings.model_copy(update={"trust_model_urls": True})
    return settings


def run_to_file(home: Path | None, config: EvalConfig, out: Path, progress: Progress) -> dict[str, Any]:
    """Run the task and write its report to ``out``; ``home`` None: a throwaway data directory,
    so an evaluation leaves no agents among the user's."""
    if out.is_dir():
        raise InvalidRequestError(f"--out {out} is a directory; name a file")
    try:  # find out now, not after an hour of paid model calls, that the report cannot be written
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidRequestError(f"cannot write the report to {out}: {exc.strerror or exc}") from exc
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise InvalidRequestError(f"cannot write the report to {out}: permission denied")

    async def main(chosen: Settings) -> dict[str, Any]:
        async with default_service(chosen) as svc:
            return await run_eval(svc, config, progress)

    if home is None:
        with tempfile.TemporaryDirectory(prefix="memgpt-eval-", ignore_cleanup_errors=True) as tmp:
            report = asyncio.run(main(operator_settings(Path(tmp))))
    else:
        report = asyncio.run(main(operator_settings(home)))
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report
