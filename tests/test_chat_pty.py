"""`memgpt chat` driven in a pseudo-terminal (stdlib pty + select) against the fake OpenAI server."""

from __future__ import annotations

import codecs
import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from fakes.openai_server import FakeOpenAI, completion, fake_openai  # noqa: F401  (fixture)
from memgpt import AgentService, Settings

MEMGPT = Path(sys.executable).with_name("memgpt")
TIMEOUT = 20.0
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")


def plain(raw: str) -> str:
    """Terminal output without escape sequences or carriage returns."""
    return _ANSI.sub("", raw).replace("\r", "")


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment minus every provider and memgpt variable, plus extra."""
    drop = ("OPENAI_", "ANTHROPIC_", "MEMGPT_", "OLLAMA_", "VLLM_", "LLAMACPP_", "LMSTUDIO_",
            "OPENROUTER_", "GROQ_", "NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update({"NO_COLOR": "1", "COLUMNS": "120", "TERM": "xterm-256color", "PYTHONUTF8": "1", **extra})
    return env


class Terminal:
    """A child process on a pseudo-terminal; `expect` waits for text in its (escape-free) output."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.fd, child = os.openpty()
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=child, stdout=child, stderr=child, env=env,
                                     close_fds=True, start_new_session=True)
        os.close(child)
        self.raw = ""
        self.pos = 0  # how far into plain(self.raw) expect has consumed
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._eof = False

    def _read(self, timeout: float) -> None:
        """Append whatever output arrives within timeout (sets EOF when the child hangs up)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: every writer of the pty is gone
            data = b""
        if not data:
            self._eof = True
        self.raw += self._decoder.decode(data, final=not data)

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        """Wait for a regex in the output after the last match; fail with the output if it never comes."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(plain(self.raw), self.pos)
            if match:
                self.pos = match.end()
                return match
            if self._eof or time.monotonic() > deadline:
                pytest.fail(f"did not see {pattern!r}; output so far:\n{plain(self.raw)}")
            self._read(min(0.2, max(0.0, deadline - time.monotonic())))

    def send_line(self, text: str) -> None:
        """Type a line and press Enter."""
        os.write(self.fd, text.encode() + b"\r")

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Read to end of output and return the exit code."""
        deadline = time.monotonic() + timeout
        while not self._eof and time.monotonic() < deadline:
            self._read(0.2)
        return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))

    def __enter__(self) -> Self:
        """Return the terminal."""
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        """Kill the child if it is still running and close the pty."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)
        os.close(self.fd)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh MEMGPT home directory."""
    return tmp_path / "home"


@pytest.fixture(scope="module", autouse=True)
def no_model_chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Terminal, Path]]:
    """`memgpt chat` with no model configured, started at module setup so its slow start overlaps."""
    home = tmp_path_factory.mktemp("no-model") / "home"
    env = clean_env(OLLAMA_HOST="http://127.0.0.1:9")  # a closed loopback port: no Ollama
    with Terminal([str(MEMGPT), "chat", "--home", str(home)], env) as term:
        yield term, home


async def test_chat_session_edits_and_persists_memory(fake_openai: FakeOpenAI, home: Path) -> None:
    """Type a message, see thinking/tool call/reply, inspect /memory and /context, /quit; memory persists."""
    fake_openai.push(
        completion("Saving the name.", [("core_memory_append", json.dumps(
            {"label": "human", "content": "Name: Priya", "request_heartbeat": True}))]),
        completion(None, [("send_message", json.dumps({"message": "Nice to meet you, Priya!"}))]),
    )
    argv = [str(MEMGPT), "chat", "--home", str(home), "--agent", "pal",
            "--model", f"openai/gpt-4o-mini@{fake_openai.url}"]
    with Terminal(argv, clean_env(OPENAI_API_KEY="sk-dummy")) as term:
        term.expect(r"created agent 'pal'")
        term.expect(r"memgpt chat")
        term.expect(r"you> ")
        term.send_line("Hi, I am Priya")
        term.expect(r"Hi, I am Priya")  # echoed by the terminal
        term.expect(r"thinking: Saving the name\.")
        dim = re.search(r"\x1b\[([0-9;]*)m\s*thinking: Saving the name\.", term.raw)
        assert dim is not None and "2" in dim.group(1).split(";"), "the inner monologue is not dimmed"
        term.expect(r"⚙ core_memory_append\(label='human', content='Name: Priya'\)\n")
        term.expect(r"→ Appended to 'human'")
        term.expect(r"agent Nice to meet you, Priya!\n")
        term.expect(r"you> ")
        assert "request_heartbeat" not in plain(term.raw)
        assert "⚙ send_message" not in plain(term.raw)  # the reply is shown as the reply, not a call

        term.send_line("/memory")
        term.expect(r"core memory")
        term.expect(r"│ human .*")
        term.expect(r"Name: Priya")
        term.expect(r"you> ")

        term.send_line("/context")
        term.expect(r"context window: \d+ / 32768")
        table = term.expect(r"(?s)section.*?tokens.*?share.*?messages\s*│\s*\d+").group(0)
        for section in ("system", "tools", "blocks", "summary", "metadata"):
            assert re.search(rf"{section}\s*│\s*\d+\s*│\s*\d+\.\d%", table), section
        term.expect(r"\d+ messages in view, \d+ in recall, 0 passages in archival memory")
        term.expect(r"you> ")

        term.send_line("/quit")
        assert term.wait() == 0
    assert "error:" not in plain(term.raw)

    assert len(fake_openai.requests) == 2 and fake_openai.pending == 0
    assert all(r.get("stream") is True for r in fake_openai.requests)
    async with AgentService(Settings(home=home)) as svc:
        block = await svc.get_block("pal", "human")
        assert block.value.splitlines()[-1] == "Name: Priya"
        assert [a.name for a in await svc.list_agents()] == ["pal"]


async def test_chat_without_a_model_prints_setup_help(no_model_chat: tuple[Terminal, Path]) -> None:
    """With no key, no MEMGPT_MODEL and no Ollama, `memgpt chat` explains the setup and exits 1."""
    term, home = no_model_chat
    term.expect(r"No language model is configured\.")
    term.expect(r"export OPENAI_API_KEY=")
    term.expect(r"export ANTHROPIC_API_KEY=")
    term.expect(r"memgpt demo")
    assert term.wait() == 1
    assert "you>" not in plain(term.raw)
    async with AgentService(Settings(home=home)) as svc:
        assert await svc.list_agents() == []
