"""Folder hardening. grep_files bounds its regular expression: a pattern that backtracks
catastrophically over a long line is stopped at the deadline (memgpt/memory/file_view.py
``GREP_SECONDS``) and the model gets an error result saying so; the chain goes on. Closing the
service settles the files it was processing."""

from __future__ import annotations

import asyncio
import io
import threading
from typing import Any

import pytest

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.schemas import Role
from memgpt.llm.scripted import reply, tool_call
from memgpt.memory import file_view

EVIL = "(a+)+$"


async def test_catastrophic_pattern_is_stopped(service: AgentService, model: ScriptedModel,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_view, "GREP_SECONDS", 0.3)
    folder = await service.create_folder("docs")
    text = "A normal first line.\n" + "a" * 3000 + "b\nlast line\n"
    info = await service.upload_file(folder.id, io.BytesIO(text.encode()), file_name="big.txt", wait=True)
    assert info.status == "completed"
    agent = await service.create_agent("g", model="scripted")
    await service.attach_folder(agent.id, folder.id)
    model.push(tool_call("grep_files", pattern=EVIL, request_heartbeat=True),
               tool_call("grep_files", pattern="normal", include=EVIL, request_heartbeat=True),
               tool_call("grep_files", pattern="last", request_heartbeat=True), reply("done"))
    result = await service.send_message(agent.id, "search")
    outcomes = [(r.is_error, r.content) for m in result.messages if m.role is Role.TOOL for r in m.tool_results]
    assert outcomes[0][0] and "took longer than 0.3 seconds" in outcomes[0][1]
    assert not outcomes[1][0] and "No matches" in outcomes[1][1]  # include: labels are short
    assert not outcomes[2][0] and "docs/big.txt:3" in outcomes[2][1]
    assert result.replies == ["done"]


async def test_close_marks_files_in_processing_interrupted(settings: Settings, model: ScriptedModel,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing the service while a file is being embedded stops its processing and leaves it
    ``error`` (interrupted), not stuck in ``embedding`` nor finished on a closed database."""
    started, release = threading.Event(), threading.Event()
    svc = await AgentService(settings, models={"scripted": model}).open()
    real = svc.embedder.embed

    def held(texts: list[str]) -> Any:
        started.set()
        release.wait(30)
        return real(texts)

    monkeypatch.setattr(svc.embedder, "embed", held)
    try:
        folder = await svc.create_folder("docs")
        info = await svc.upload_file(folder.id, io.BytesIO(b"Some text to embed."), file_name="a.txt")
        assert await asyncio.to_thread(started.wait, 30)
        await svc.close()
    finally:
        release.set()
    monkeypatch.undo()
    async with AgentService(settings, models={"scripted": model}) as again:
        [f] = await again.list_files(folder.id)
    assert f.id == info.id and f.status == "error" and "interrupted" in (f.error_message or ""), f
