"""The web workbench in a real browser: Debian's Chromium driven by Playwright against a real
``memgpt server`` app (uvicorn in the test loop) whose only model is the scripted one.

One browser serves the module; each test gets its own service, database and server, and a
fresh browser context (so sessionStorage starts empty). Every test fails on a console error
or an uncaught page error. With MEMGPT_SCREENSHOTS=1 the tests save screenshots to
docs/screenshots/ (the README shows some); CI leaves the files alone.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright import async_api as playwright_api

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.schemas import AgentState
from memgpt.llm.base import ModelRequest, ModelResponse
from memgpt.llm.scripted import Policy, reply, text, tool_call
from memgpt.server import create_app
from serve import serving_app

Browser = playwright_api.Browser
Page = playwright_api.Page
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

pytestmark = pytest.mark.asyncio(loop_scope="module")
expect.set_options(timeout=10_000)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium for the module (.ci/run installs it; without it the tests fail)."""
    assert Path(CHROMIUM).exists(), f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
    async with playwright_api.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Bench:
    """A served app, its service and scripted model, and a page with its collected errors."""

    service: AgentService
    model: ScriptedModel
    base: str
    page: Page
    errors: list[str] = field(default_factory=list)

    async def open(self, agent: AgentState | None = None) -> None:
        """Load the page (on an agent) and wait until it has drawn that agent."""
        await self.page.goto(f"{self.base}/" + (f"#agent={agent.id}" if agent else ""))
        if agent is not None:
            await expect(self.page.locator("#agent-title")).to_have_text(agent.name)

    async def send(self, message: str) -> None:
        """Type a message in the composer and send it with Enter; wait for the turn to end."""
        await self.page.fill("#input", message)
        await self.page.press("#input", "Enter")
        await expect(self.page.locator("#input")).to_be_enabled()
        await expect(self.page.locator(".msg.pending")).to_have_count(0)

    async def tab(self, name: str) -> None:
        await self.page.click(f"#tab-{name}")

    async def shot(self, name: str) -> None:
        """Save a screenshot when MEMGPT_SCREENSHOTS=1."""
        if os.environ.get("MEMGPT_SCREENSHOTS") == "1":
            SHOTS.mkdir(parents=True, exist_ok=True)
            await self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def assert_clean(self, allowed: str | None = None) -> None:
        """No console errors or page errors (but those matching ``allowed``)."""
        errors = [e for e in self.errors if allowed is None or not re.search(allowed, e)]
        assert errors == [], errors


@contextlib.asynccontextmanager
async def bench(
    browser: Browser, settings: Settings, *, policy: Policy | None = None, require_key: bool = False,
) -> AsyncIterator[Bench]:
    """A service with a scripted model, served, and a fresh page in its own browser context."""
    model = ScriptedModel(policy=policy)
    async with AgentService(settings, models={"scripted": model}) as service:
        async with serving_app(create_app(service, require_key=require_key)) as base:
            context = await browser.new_context(viewport={"width": 1440, "height": 900})
            page = await context.new_page()
            page.set_default_timeout(10_000)
            b = Bench(service, model, base, page)
            page.on("console", lambda m: b.errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: b.errors.append(f"pageerror: {e}"))
            try:
                yield b
            finally:
                await context.close()


def echo(request: ModelRequest) -> ModelResponse:
    """Reply to the latest user message (and summarize when asked without tools)."""
    if not request.tools:
        return text("Summary: the user and the agent exchanged long messages about gardens.")
    last = next(m for m in reversed(request.messages) if m.role.value == "user")
    return reply(f"You said: {last.text[:40]}")


# --- agents, chat, live memory ------------------------------------------------------------------
async def test_create_agent_chat_and_see_memory_change(browser: Browser, settings: Settings) -> None:
    """Create an agent in the page, chat: the reply streams in, the tool call is folded under
    it, and the human block changes (with its counter) without a reload."""
    async with bench(browser, settings) as b:
        await b.open()
        await expect(b.page.locator("#agent-empty")).to_have_text("No agents yet: create one.")
        await b.page.click("#new-agent")
        await b.page.fill("#create-name", "ada-helper")
        await b.page.select_option("#create-model", "scripted")
        await b.page.fill("#create-human", "First name: unknown")
        await b.page.click("#create-form button[type=submit]")
        await expect(b.page.locator("#agent-title")).to_have_text("ada-helper")
        [agent] = await b.service.list_agents()
        assert agent.name == "ada-helper" and agent.model == "scripted"
        human = b.page.locator('.block[data-label="human"]')
        await expect(human.locator(".counter")).to_have_text("19 / 2,000")

        b.model.push(
            tool_call("core_memory_append", thinking="They told me their name; remember it.",
                      label="human", content="Name: Ada", request_heartbeat=True),
            reply("Nice to meet you, Ada!"),
        )
        await b.send("Hi, I'm Ada")
        await expect(b.page.locator(".msg.user .bubble")).to_have_text("Hi, I'm Ada")
        await expect(b.page.locator(".msg.assistant .bubble")).to_have_text("Nice to meet you, Ada!")
        fold = b.page.locator("details.fold", has_text="core_memory_append")
        await expect(fold).to_have_count(1)
        await expect(fold.locator(".args")).to_be_hidden()  # folded until opened
        await fold.locator("summary").click()
        await expect(fold.locator(".monologue")).to_have_text("They told me their name; remember it.")
        await expect(fold.locator(".args")).to_contain_text('"content": "Name: Ada"')
        await expect(fold.locator(".result")).to_contain_text("Appended to 'human'")

        value = (await b.service.get_block(agent.id, "human")).value
        assert value == "First name: unknown\nName: Ada"
        await expect(human.locator("textarea")).to_have_value(value)
        await expect(human.locator(".counter")).to_have_text(f"{len(value)} / 2,000")
        await expect(human.locator(".badge.updated")).to_be_visible()
        await expect(b.page.locator(".msg.step")).to_have_count(2)
        await expect(b.page.locator(".msg.step").first).to_contain_text("prompt +")
        await b.shot("chat")
        b.assert_clean()


def prose(words: int, seed: int) -> str:
    """A long message of plain words."""
    vocab = "garden river lantern copper meadow violin harbor thunder pepper canyon orbit".split()
    return " ".join(vocab[(i * 7 + seed) % len(vocab)] for i in range(words))


async def test_context_map_changes_after_an_eviction(browser: Browser, settings: Settings) -> None:
    """A small window fills up: the pressure alert shows as a quiet system event, the eviction
    is noted, and the map shows the summary section and text it produced."""
    async with bench(browser, settings, policy=echo) as b:
        agent = await b.service.create_agent("small", model="scripted", context_window=2000)
        await b.open(agent)
        await b.tab("context")
        summary_seg = b.page.locator('.seg[data-section="summary"]')
        await expect(b.page.locator("#ctx-summary")).to_contain_text("No summary yet")
        empty_summary = int(await summary_seg.get_attribute("data-tokens") or -1)  # its heading
        await expect(b.page.locator(".mark.warn")).to_have_count(1)
        await expect(b.page.locator(".mark.evict")).to_have_count(1)
        for turn in range(12):
            await b.send(prose(120, turn))
            if (await b.service.get_agent(agent.id)).context_start > 0:
                break
        else:
            pytest.fail("no eviction after 12 long messages in a 2,000-token window")
        await expect(b.page.locator(".msg.note.eviction")).to_have_count(1)
        await expect(b.page.locator(".msg.event", has_text="memory")).not_to_have_count(0)  # pressure alert
        await expect(b.page.locator("#ctx-summary")).to_contain_text("Summary: the user and the agent")
        report = await b.service.context_window(agent.id)
        assert report.sections["summary"] > empty_summary
        await expect(summary_seg).to_have_attribute("data-tokens", str(report.sections["summary"]))
        await expect(b.page.locator('.seg[data-section="messages"]')).to_have_attribute(
            "data-tokens", str(report.sections["messages"]))
        await summary_seg.hover()
        await expect(b.page.locator("#ctx-readout")).to_contain_text(
            f"summary: {report.sections['summary']:,} tokens")
        await b.shot("context")
        b.assert_clean()


async def test_recall_by_date_and_archival_insert_search_delete(browser: Browser, settings: Settings) -> None:
    """Recall search finds today's messages by date and nothing in last year's range; a passage
    inserted in the page is listed, found by search and deleted after confirmation."""
    async with bench(browser, settings, policy=echo) as b:
        agent = await b.service.create_agent("recaller", model="scripted")
        for words in ("I planted tomatoes today", "The violin lesson is on Friday", "My cat is called Pepper"):
            await b.service.send_message(agent.id, words)
        await b.open(agent)
        await b.tab("recall")
        today = datetime.now(timezone.utc).date()
        form = b.page.locator("#recall-form")
        await form.locator('input[name="start"]').fill((today - timedelta(days=1)).isoformat())
        await form.locator('input[name="end"]').fill(today.isoformat())
        await form.locator("button[type=submit]").click()
        found = await b.service.search_messages(
            agent.id, start=datetime.combine(today - timedelta(days=1), datetime.min.time(), timezone.utc),
            end=datetime.combine(today + timedelta(days=1), datetime.min.time(), timezone.utc))
        assert found.total >= 6
        await expect(b.page.locator("#recall-total")).to_contain_text(f"{found.total} found")
        await expect(b.page.locator("#recall-results li")).to_have_count(min(10, found.total))
        await expect(b.page.locator("#recall-results")).to_contain_text("My cat is called Pepper")
        await form.locator('input[name="query"]').fill("violin")
        await form.locator("button[type=submit]").click()
        await expect(b.page.locator("#recall-results li").first).to_contain_text("The violin lesson is on Friday")
        await b.shot("recall")
        await form.locator('input[name="query"]').fill("")
        await form.locator('input[name="start"]').fill((today - timedelta(days=400)).isoformat())
        await form.locator('input[name="end"]').fill((today - timedelta(days=300)).isoformat())
        await form.locator("button[type=submit]").click()
        await expect(b.page.locator("#recall-total")).to_have_text("0 found")
        await expect(b.page.locator("#recall-results li")).to_have_count(0)

        await b.tab("archival")
        await expect(b.page.locator("#archival-total")).to_have_text("No passages yet.")
        await b.page.fill("#archival-text", "The spare key is under the blue flowerpot.")
        await b.page.fill("#archival-tags", "home, keys")
        await b.page.click("#archival-insert button[type=submit]")
        item = b.page.locator("#archival-results li", has_text="blue flowerpot")
        await expect(item).to_have_count(1)
        await expect(item.locator(".tag")).to_have_text(["home", "keys"])
        [passage] = await b.service.list_passages(agent.id)
        assert passage.text == "The spare key is under the blue flowerpot." and passage.tags == ["home", "keys"]
        await b.page.fill('#archival-search input[name="query"]', "flowerpot")
        await b.page.click("#archival-search button[type=submit]")
        await expect(b.page.locator("#archival-total")).to_contain_text("matches for “flowerpot”")
        await expect(item).to_have_count(1)
        await b.shot("archival")
        await item.locator("button", has_text="Delete").click()
        await expect(b.page.locator("#confirm-dialog")).to_be_visible()
        await b.page.click("#confirm-ok")
        await expect(item).to_have_count(0)
        assert await b.service.list_passages(agent.id) == []
        b.assert_clean()


async def test_block_edited_by_hand_reaches_the_next_request(browser: Browser, settings: Settings) -> None:
    """A block saved in the page is in the system message of the model's next request; an
    over-limit value is refused inline and nothing is sent."""
    async with bench(browser, settings, policy=echo) as b:
        agent = await b.service.create_agent("editable", model="scripted")
        await b.open(agent)
        persona = b.page.locator('.block[data-label="persona"]')
        new = "I am Rex, a terse assistant who answers in haiku."
        await persona.locator("textarea").fill(new)
        await expect(persona.locator(".counter")).to_have_text(f"{len(new)} / 2,000")
        await expect(persona).to_have_class(re.compile("dirty"))
        await persona.locator("button", has_text="Save").click()
        await expect(persona).not_to_have_class(re.compile("dirty"))
        assert (await b.service.get_block(agent.id, "persona")).value == new
        human = b.page.locator('.block[data-label="human"]')
        await human.locator("textarea").fill("x" * 2001)
        await expect(human.locator(".counter.over")).to_have_text("2,001 / 2,000")
        await human.locator("button", has_text="Save").click()
        await expect(human.locator(".error")).to_contain_text("Too long: 2,001 characters")
        await human.locator("button", has_text="Revert").click()
        assert (await b.service.get_block(agent.id, "human")).value != "x" * 2001
        await b.send("Who are you?")
        await expect(b.page.locator(".msg.assistant .bubble")).to_have_text("You said: Who are you?")
        system = b.model.calls[-1].messages[0]
        assert system.role.value == "system" and new in system.text
        b.assert_clean()


async def test_keys_login_and_only_own_agents(browser: Browser, settings: Settings) -> None:
    """With keys required the page loads without one and asks for it; the key stays in session
    storage, goes out on every call, and shows only its user's agents."""
    async with bench(browser, settings, require_key=True) as b:
        _, alice = await b.service.create_api_key("alice")
        _, bob = await b.service.create_api_key("bob")
        await b.service.scoped("alice").create_agent("alice-agent", model="scripted")
        await b.service.scoped("bob").create_agent("bob-agent", model="scripted")
        api_calls: list[tuple[str, str | None]] = []
        b.page.on("request", lambda r: api_calls.append((r.url, r.headers.get("authorization")))
                  if "/v1/" in r.url else None)
        await b.open()
        await expect(b.page.locator("#login-dialog")).to_be_visible()
        await b.shot("login")
        await b.page.fill("#login-key", alice)
        await b.page.press("#login-key", "Enter")
        await expect(b.page.locator("#agent-title")).to_have_text("alice-agent")
        await expect(b.page.locator("#agent-list button.agent")).to_have_count(1)
        assert "bob-agent" not in await b.page.content()
        assert await b.page.evaluate("sessionStorage.getItem('memgpt.key')") == alice
        assert await b.page.evaluate("localStorage.length") == 0
        assert api_calls and all(auth == f"Bearer {alice}" for _, auth in api_calls), api_calls
        b.assert_clean()

        await b.page.click("#logout")
        await expect(b.page.locator("#login-dialog")).to_be_visible()
        await b.page.fill("#login-key", "mgpt-not-a-key")
        await b.page.press("#login-key", "Enter")
        await expect(b.page.locator("#login-error")).to_contain_text("invalid or revoked API key")
        await b.page.fill("#login-key", bob)
        await b.page.press("#login-key", "Enter")
        await expect(b.page.locator("#agent-title")).to_have_text("bob-agent")
        await expect(b.page.locator("#agent-list button.agent")).to_have_count(1)
        b.assert_clean(allowed=r"status of 401")  # the refused key's own request



async def test_markup_in_messages_and_memory_renders_inert(browser: Browser, settings: Settings) -> None:
    """Script tags, event-handler attributes and markdown links in a message, a reply, an
    agent name, a block and a passage are shown as text and run nothing."""
    attack = ('<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
              '**bold** [link](javascript:window.__xss=3)')
    async with bench(browser, settings, policy=lambda r: reply(attack if r.tools else "x")) as b:
        agent = await b.service.create_agent('<img src=x onerror="window.__xss = 4">', model="scripted",
                                             human='<script>window.__xss = 5</script>')
        await b.service.insert_passages(agent.id, ['<img src=x onerror="window.__xss = 6">'])
        await b.open(agent)
        await b.send(attack)
        await expect(b.page.locator(".msg.user .bubble")).to_have_text(attack)
        await expect(b.page.locator(".msg.assistant .bubble")).to_have_text(attack)
        await expect(b.page.locator('.block[data-label="human"] textarea')).to_have_value(
            '<script>window.__xss = 5</script>')
        await b.tab("archival")
        await expect(b.page.locator("#archival-results .text")).to_have_text('<img src=x onerror="window.__xss = 6">')
        assert await b.page.evaluate("window.__xss") is None
        assert await b.page.locator("#messages img, #messages script, #messages a, nav img").count() == 0
        b.assert_clean()


async def test_history_pages_tools_export_import_and_delete(browser: Browser, settings: Settings) -> None:
    """A long history opens on its newest page and goes back to the first message; custom
    tools are created (errors shown), attached and detached; an agent is exported, imported
    and deleted after confirmation."""
    async with bench(browser, settings, policy=echo) as b:
        agent = await b.service.create_agent("veteran", model="scripted", context_window=32000)
        turns = 40
        for i in range(turns):
            await b.service.send_message(agent.id, f"message number {i}")
        total = len(await b.service.list_messages(agent.id, limit=1000))
        assert total > 2 * 50  # more than two pages of 50
        await b.open(agent)
        users = b.page.locator(".msg.user .bubble")
        await expect(users.last).to_have_text(f"message number {turns - 1}")
        assert await users.count() < turns
        earlier = b.page.locator("#load-earlier")
        for _ in range(5):  # 120 messages: two more pages of 50, then the first 20
            if not await earlier.is_visible():
                break
            oldest = await b.page.locator(".msg[data-seq]").first.get_attribute("data-seq")
            await earlier.click()
            await expect(b.page.locator(".msg[data-seq]").first).not_to_have_attribute("data-seq", oldest or "")
        await expect(b.page.locator(".msg.note.start")).to_have_count(1)
        await expect(users).to_have_count(turns)
        await expect(users.first).to_have_text("message number 0")
        seqs = [int(s) for s in await b.page.locator(".msg[data-seq]").evaluate_all(
            "els => els.map(e => e.dataset.seq)")]
        assert seqs == sorted(seqs) and seqs[0] == 0

        await b.tab("tools")
        await expect(b.page.locator("#agent-tools li.tool", has_text="archival_memory_search")).to_have_count(1)
        await b.page.fill("#tool-source", "def roll(sides):\n    return 4\n")
        await b.page.click("#tool-create button[type=submit]")
        await expect(b.page.locator("#tool-error")).not_to_be_empty()
        await b.page.fill("#tool-source", 'def roll(sides: int) -> str:\n    """Roll a die.\n\n    Args:\n'
                          '        sides: How many sides.\n    """\n    return "4"\n')
        await b.page.click("#tool-create button[type=submit]")
        await expect(b.page.locator("#tool-error")).to_be_empty()
        await b.page.click('#other-tools [data-name="roll"] button')
        await expect(b.page.locator('#agent-tools [data-name="roll"]')).to_have_count(1)
        assert "roll" in [t.name for t in await b.service.list_agent_tools(agent.id)]
        await b.page.click('#agent-tools [data-name="roll"] button')
        await expect(b.page.locator('#other-tools [data-name="roll"]')).to_have_count(1)
        assert "roll" not in [t.name for t in await b.service.list_agent_tools(agent.id)]

        async with b.page.expect_download() as download_info:
            await b.page.click("#export-agent")
        download = await download_info.value
        assert download.suggested_filename == "veteran.af"
        path = await download.path()
        await b.page.set_input_files("#import-file", str(path))
        await expect(b.page.locator("#agent-title")).to_have_text("veteran__copy")
        copy = next(a for a in await b.service.list_agents() if a.name == "veteran__copy")
        assert len(await b.service.list_messages(copy.id, limit=1000)) == total

        await b.page.click("#delete-agent")
        await b.page.click("#confirm-cancel")
        assert len(await b.service.list_agents()) == 2
        await b.page.click("#delete-agent")
        await b.page.click("#confirm-ok")
        await expect(b.page.locator("#agent-list button.agent")).to_have_count(1)
        assert [a.name for a in await b.service.list_agents()] == ["veteran"]
        b.assert_clean(allowed=r"status of 400")  # the refused tool source


@pytest.mark.parametrize("require_key", [True, False])
async def test_page_files_load_without_a_key_with_security_headers(settings: Settings, require_key: bool) -> None:
    """The page's files need no key and carry the CSP, nosniff and a revalidating cache header;
    every API route still authenticates (the workbench's own route too)."""
    async with AgentService(settings, models={"scripted": ScriptedModel()}) as service:
        async with serving_app(create_app(service, require_key=require_key)) as base, \
                httpx.AsyncClient(base_url=base) as http:
            for path, kind in (("/", "text/html"), ("/web/app.js", "text/javascript"),
                               ("/web/chat.js", "text/javascript"), ("/web/app.css", "text/css")):
                r = await http.get(path)
                assert r.status_code == 200 and r.headers["content-type"].startswith(kind), path
                csp = r.headers["content-security-policy"]
                assert "default-src 'self'" in csp and "script-src 'self';" in csp and "unsafe" not in csp
                assert r.headers["x-content-type-options"] == "nosniff"
                assert r.headers["cache-control"] == "no-cache"
                again = await http.get(path, headers={"if-none-match": r.headers["etag"]})
                assert again.status_code == 304 and again.content == b""
                head = await http.head(path)
                assert head.status_code == 200 and head.content == b""
            page = (await http.get("/")).text
            assert f'<meta name="memgpt-require-key" content="{str(require_key).lower()}">' in page
            # the CSP forbids inline script: the page has none to be refused
            assert re.search(r"\son[a-z]+=", page) is None and re.search(r"\sstyle=", page) is None
            assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))
            if require_key:
                for path in ("/memgpt/v1/agents", "/memgpt/v1/agents/x/window", "/web/nothing.js"):
                    assert (await http.get(path)).status_code == 401, path
                assert (await http.post("/", json={})).status_code == 401
            else:
                agent = await service.create_agent("a", model="scripted", context_window=4000)
                r = await http.get(f"/memgpt/v1/agents/{agent.id}/window")
                assert r.status_code == 200
                body = r.json()
                assert body["warning_tokens"] == 3000 and body["eviction_tokens"] == 4000 - 500
                assert body["report"]["context_window"] == 4000 and body["summary"] == ""
                assert (await http.get("/web/nothing.js")).status_code == 404
