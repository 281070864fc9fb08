"""`memgpt chat`: talk to an agent in the terminal."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from rich.console import Console
from rich.panel import Panel

from memgpt.cli.render import print_blocks, print_context, print_messages
from memgpt.core.errors import MemGPTError
from memgpt.core.events import Event, Listener, MessageSaved
from memgpt.core.schemas import Role, SendResult, StopReason
from memgpt.services.service import AgentService

SETUP_HELP = """\
[bold]No language model is configured.[/] memgpt chat needs one of:

  OpenAI      export OPENAI_API_KEY=...      (then uses openai/gpt-4o-mini)
  Anthropic   export ANTHROPIC_API_KEY=...   (anthropic/claude-sonnet-4-5)
  Ollama      ollama serve; ollama pull qwen2.5:7b   (found on localhost)

or name a model (and server) explicitly:

  memgpt chat --model openai/gpt-4o-mini
  memgpt chat --model ollama/qwen2.5:7b
  memgpt chat --model vllm/Qwen/Qwen2.5-7B-Instruct@http://localhost:8000/v1
  memgpt chat --model openai/NAME@http://HOST:PORT/v1   (any compatible server)

MEMGPT_MODEL sets the default. `memgpt demo` runs offline, no model needed."""

COMMANDS = """\
/memory            show core memory blocks
/context           tokens per section of the context window
/recall QUERY      search every past message
/archival QUERY    search archival memory
/agents            list agents
/switch NAME       talk to another agent (created with the current model if new)
/help              this list
/quit              leave (Ctrl-D works too)"""


def _ollama_model() -> str | None:
    host = os.environ.get("OLLAMA_HOST", "http://localhost:11434")
    host = host if "://" in host else f"http://{host}"
    try:
        with urllib.request.urlopen(f"{host.rstrip('/')}/api/tags", timeout=0.5) as response:
            tags = json.loads(response.read())
    except (OSError, ValueError):
        return None
    if not isinstance(tags, dict):
        return None
    models = [m.get("name") for m in tags.get("models", []) if isinstance(m, dict)]
    return f"ollama/{models[0]}" if models and models[0] else None


def detect_model(flag: str | None, default: str | None) -> str | None:
    """The model to use: the flag, MEMGPT_MODEL, then whichever provider is configured."""
    if flag or default:
        return flag or default
    if os.environ.get("OPENAI_API_KEY"):
        return "openai/gpt-4o-mini"
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic/claude-sonnet-4-5"
    return _ollama_model()


class ChatSession:
    """One terminal conversation, possibly across several agents."""

    def __init__(self, service: AgentService, console: Console, model: str | None) -> None:
        self.service, self.console, self.model = service, console, model
        self.agent = ""

    async def open_agent(self, name: str | None) -> bool:
        """Select an agent by name (creating it if needed) or the newest one."""
        agents = await self.service.list_agents()
        if name is None and agents:
            name = agents[-1].name
        name = name or "assistant"
        if name not in {a.name for a in agents} | {a.id for a in agents}:
            if self.model is None:
                self.console.print(SETUP_HELP)
                return False
            await self.service.create_agent(name, model=self.model)
            self.console.print(f"[dim]created agent {name!r} with {self.model}[/]")
        state = await self.service.get_agent(name)
        self.agent = state.id
        self.console.print(Panel.fit(
            f"[bold]{state.name}[/]  model={state.model}  window={state.context_window} tokens\n"
            "Type a message, or /help for commands.", title="memgpt chat"))
        return True

    def _listener(self) -> Listener:
        async def show(event: Event) -> None:
            if isinstance(event, MessageSaved) and event.message.role is not Role.USER:
                print_messages(self.console, [event.message])
        return show

    async def command(self, line: str) -> bool:
        """Run a slash command; False means quit."""
        name, _, arg = line[1:].partition(" ")
        svc, agent, arg = self.service, self.agent, arg.strip()
        if name in ("quit", "exit", "q"):
            return False
        if name == "memory":
            print_blocks(self.console, await svc.list_blocks(agent))
        elif name == "context":
            print_context(self.console, await svc.context_window(agent))
        elif name == "recall" and arg:
            page = await svc.search_messages(agent, arg, limit=10)
            self.console.print(f"{page.total} matches")
            print_messages(self.console, page.items)
        elif name == "archival" and arg:
            for p in await svc.search_passages(agent, arg, limit=10):
                self.console.print(f"- {p.text}", highlight=False)
        elif name == "agents":
            for a in await svc.list_agents():
                mark = "*" if a.id == agent else " "
                self.console.print(f"{mark} {a.name}  [dim]{a.model}[/]")
        elif name == "switch" and arg:
            return await self.open_agent(arg) or True
        else:
            self.console.print(COMMANDS)
        return True

    async def say(self, text: str) -> None:
        """Send one message, printing each step as it is persisted."""
        try:
            result = await self.service.send_message(self.agent, text, on_event=self._listener())
            while result.steps and result.steps[-1].stop_reason is StopReason.REQUIRES_APPROVAL:
                result = await self._approval(result)
        except EOFError:
            self.console.print("\n[dim]The call waits for approval: answer with `memgpt tools answer`.[/]")
        except MemGPTError as exc:
            self.console.print(f"[red]error:[/] {exc}\n[dim]Your message is saved; try again.[/]")

    async def _approval(self, held: SendResult) -> SendResult:
        """Ask the user about the calls the agent holds for approval; send the answer."""
        from memgpt.core.tool_control import Decision

        for call in (c for m in held.messages for c in m.tool_calls if c.requires_approval):
            self.console.print(f"[yellow]approve[/] {call.name}({call.arguments})?", highlight=False)
        answer = self.console.input("[bold yellow]y / n [reason]>[/] ").strip()
        approve = answer.lower() in ("y", "yes")
        reason = None if approve else (answer.partition(" ")[2] or None)
        decision = Decision(approve=approve, reason=reason)
        return await self.service.send_approval(self.agent, [decision], on_event=self._listener())

    async def run(self) -> None:
        """Read lines until /quit or end of input."""
        while True:
            try:
                line = self.console.input("[bold cyan]you>[/] ").strip()
            except (EOFError, KeyboardInterrupt):
                self.console.print()
                return
            if not line:
                continue
            if line.startswith("/"):
                try:
                    if not await self.command(line):
                        return
                except MemGPTError as exc:
                    self.console.print(f"[red]error:[/] {exc}")
                continue
            await self.say(line)
