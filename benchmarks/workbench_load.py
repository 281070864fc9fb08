"""First load of the web workbench for an agent with a long history, in Debian's Chromium.

An agent is given ``--messages`` messages of history (user messages answered by a scripted
model: user, assistant and tool-result messages per turn; evictions summarize as usual),
optionally ``--blocks`` extra core-memory blocks of ``--block-chars`` characters each. The
app is then served by uvicorn on 127.0.0.1 (memgpt.server.BackgroundServer) and the page
``/#agent=<id>`` is loaded ``--runs`` times, each in a fresh browser context (empty cache,
empty session storage), and timed until the chat shows the agent's last reply:

* browser: ``performance.now()`` when the last reply is in the DOM, i.e. milliseconds from
  the navigation's start (the browser's own clock; polled every animation frame);
* wall: from ``page.goto`` being called to Playwright seeing that reply (adds the driver's
  round trips).

The medians (and min/max) are printed; ``--json`` adds a JSON last line.

    python benchmarks/workbench_load.py
    python benchmarks/workbench_load.py --messages 1000 --blocks 50 --runs 9
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from memgpt import AgentService, ScriptedModel, Settings  # noqa: E402
from memgpt.core.schemas import Block  # noqa: E402
from memgpt.embeddings import HashingEmbedder  # noqa: E402
from memgpt.llm.base import ModelRequest, ModelResponse  # noqa: E402
from memgpt.llm.scripted import reply, text  # noqa: E402
from memgpt.server import BackgroundServer  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
LAST_REPLY = """(expected) => {
  const bubbles = document.querySelectorAll(".msg.assistant .bubble");
  const last = bubbles[bubbles.length - 1];
  return last && last.textContent === expected ? performance.now() : false;
}"""


def answer(request: ModelRequest) -> ModelResponse:
    """Echo the latest user message; summarize when asked without tools."""
    if not request.tools:
        return text("Summary: the user sent numbered notes about the garden.")
    last = next(m for m in reversed(request.messages) if m.role.value == "user")
    return reply(f"Noted: {last.text[:60]}")


def service(home: Path) -> AgentService:
    """The service over the benchmark's database, with the scripted model."""
    return AgentService(Settings(home=home), models={"scripted": ScriptedModel(policy=answer)},
                        embedder=HashingEmbedder())


async def seed(home: Path, messages: int, blocks: int, block_chars: int) -> tuple[str, str]:
    """An agent with at least ``messages`` messages; its id and the text of its last reply."""
    extra = [Block(label=f"notes_{i:02d}", value=("note %02d " % i) * (block_chars // 8), limit=max(2000, block_chars))
             for i in range(blocks)]
    window = 8192 + blocks * block_chars // 3
    async with service(home) as svc:
        agent = await svc.create_agent("long-history", model="scripted", context_window=window,
                                       blocks=extra or None)
        turn = 0
        while await svc.stores.recall.count(agent.id) < messages:
            await svc.send_message(agent.id, f"Note {turn}: the tomatoes by the fence need water on day {turn}.")
            turn += 1
        last = (await svc.list_messages(agent.id, limit=10))
        said = [s for m in last for s in m.sent_messages()]
        return agent.id, said[-1]


def measure(url: str, expected: str, runs: int) -> tuple[list[float], list[float]]:
    """Browser and wall milliseconds per cold load."""
    from playwright.sync_api import sync_playwright

    browser_ms: list[float] = []
    wall_ms: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(runs + 1):  # the first load warms the server's caches and is dropped
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            start = time.perf_counter()
            page.goto(url)
            handle = page.wait_for_function(LAST_REPLY, arg=expected, polling="raf", timeout=30_000)
            wall_ms.append((time.perf_counter() - start) * 1000)
            browser_ms.append(float(handle.json_value()))
            if errors:
                raise RuntimeError(f"page errors: {errors}")
            context.close()
        browser.close()
    return browser_ms[1:], wall_ms[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=0, help="extra core-memory blocks")
    parser.add_argument("--block-chars", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        began = time.perf_counter()
        agent_id, last = asyncio.run(seed(home, args.messages, args.blocks, args.block_chars))
        print(f"seeded {args.messages}+ messages, {args.blocks} extra blocks in {time.perf_counter() - began:.1f} s")
        with BackgroundServer(service(home)) as server:
            browser_ms, wall_ms = measure(f"{server.url}/#agent={agent_id}", last, args.runs)
    result = {
        "messages": args.messages, "blocks": args.blocks, "runs": args.runs,
        "browser_ms": {"median": statistics.median(browser_ms), "min": min(browser_ms), "max": max(browser_ms)},
        "wall_ms": {"median": statistics.median(wall_ms), "min": min(wall_ms), "max": max(wall_ms)},
    }
    for name in ("browser_ms", "wall_ms"):
        r = result[name]
        assert isinstance(r, dict)
        print(f"{name[:-3]:>8}: median {r['median']:.0f} ms (min {r['min']:.0f}, max {r['max']:.0f}) over {args.runs} cold loads")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
