// The chat: history paginated from the newest page back to the first message, replies
// streamed from the native event stream, each reply's inner monologue and tool calls folded
// under it, system events and per-step usage in a quieter style.

import { api, stream } from "./api.js";
import { $, clear, fmt, h, when } from "./dom.js";

export const PAGE = 50;
const SEND = "send_message";
const enc = encodeURIComponent;

/** The decoded ``message`` argument of a send_message call whose JSON is still arriving. */
export function sentSoFar(raw) {
  const found = /"message"\s*:\s*"/.exec(raw);
  if (!found) return "";
  const rest = raw.slice(found.index + found[0].length);
  let i = 0;
  while (i < rest.length && rest[i] !== '"') {
    if (rest[i] !== "\\") { i += 1; continue; }
    if (i + 1 >= rest.length) break;
    if (rest[i + 1] !== "u") { i += 2; continue; }
    if (i + 6 > rest.length) break;
    i += 6;
  }
  try { return JSON.parse(`"${rest.slice(0, i)}"`); } catch { return ""; }
}

function parsed(raw) {
  try { const v = JSON.parse(raw); return v && typeof v === "object" ? v : null; } catch { return null; }
}

const textOf = (m) => m.parts.filter((p) => p.type === "text").map((p) => p.text).join("\n");

/** A one-line text of any message, for search results. */
export function summarize(m) {
  const out = [];
  for (const p of m.parts) {
    if (p.type === "text" || p.type === "reasoning") out.push(p.text);
    else if (p.type === "tool_call") {
      const args = parsed(p.arguments);
      out.push(p.name === SEND && typeof args?.message === "string" ? args.message : `${p.name}(${p.arguments})`);
    } else if (p.type === "tool_result") out.push(`${p.name} → ${p.content}`);
  }
  return out.join(" · ");
}

const WHO = { user: "you", assistant: "agent", "assistant inner": "agent · thinking", event: "system event", tool: "tool result" };

function item(m, kind, ...children) {
  return h("li", { class: `msg ${kind}`, "data-seq": String(m.seq), "data-id": m.id },
    h("div", { class: "meta" }, h("span", { class: "who" }, WHO[kind] ?? kind), " ", when(m.created_at)),
    ...children);
}

export class Chat {
  /** hooks: memory(event), step(event), run(event) — called as the stream reports them. */
  constructor(hooks) {
    this.hooks = hooks;
    this.list = $("#messages");
    this.history = $("#history");
    this.earlier = $("#load-earlier");
    this.input = $("#input");
    this.agent = null;
    this.reset();
    this.earlier.addEventListener("click", () => this.loadEarlier().catch((err) => this.note(err.message, "error")));
    $("#composer").addEventListener("submit", (e) => { e.preventDefault(); this.submit(); });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.submit(); }
    });
  }

  reset() {
    this.first = null;
    this.seen = new Set();
    this.slots = new Map(); // tool call id -> the <pre> its result goes in
    this.quiet = new Set(); // send_message call ids: their "sent" results are not shown
    this.pending = null;
    this.busy = false;
    clear(this.list);
  }

  /** Show an agent's newest page of history. */
  async open(agent) {
    this.agent = agent;
    this.reset();
    this.setEnabled(Boolean(agent));
    this.earlier.hidden = true;
    if (!agent) return;
    const early = this.early?.id === agent.id ? await this.early.page : null;
    this.early = null;
    const page = early ?? await api(`agents/${enc(agent.id)}/messages`, { query: { limit: PAGE } });
    if (this.agent !== agent) return;
    const frag = document.createDocumentFragment();
    for (const m of page) this.render(m, frag);
    this.list.append(frag);
    this.first = page.length ? page[0].seq : null;
    this.earlier.hidden = page.length < PAGE;
    this.history.scrollTop = this.history.scrollHeight;
  }

  /** Start fetching an agent's newest page before the agent list is in (the URL names it). */
  prefetch(id) {
    this.early = { id, page: api(`agents/${enc(id)}/messages`, { query: { limit: PAGE } }).catch(() => null) };
  }

  /** The page before the oldest shown, keeping the view where it was. */
  async loadEarlier() {
    const agent = this.agent;
    if (!agent || this.first === null || this.earlier.disabled) return;
    this.earlier.disabled = true;
    let page;
    try {
      page = await api(`agents/${enc(agent.id)}/messages`, { query: { limit: PAGE, before: this.first } });
    } finally { this.earlier.disabled = false; }
    if (this.agent !== agent) return;
    const frag = document.createDocumentFragment();
    for (const m of page) this.render(m, frag);
    const fromBottom = this.history.scrollHeight - this.history.scrollTop;
    this.list.prepend(frag);
    this.history.scrollTop = this.history.scrollHeight - fromBottom;
    if (page.length) this.first = page[0].seq;
    if (page.length < PAGE) {
      this.earlier.hidden = true;
      this.list.prepend(h("li", { class: "msg note start" }, "The first message."));
      this.list.focus?.();
    }
  }

  setEnabled(on) {
    this.input.disabled = !on;
    $("#send").disabled = !on;
  }

  render(m, target) {
    if (this.seen.has(m.id)) return;
    this.seen.add(m.id);
    const el = this.build(m);
    if (el) target.append(el);
  }

  build(m) {
    if (m.role === "user") return item(m, "user", h("div", { class: "bubble" }, textOf(m)));
    if (m.role === "event") return item(m, "event", h("div", { class: "event-text" }, textOf(m)));
    if (m.role === "assistant") return this.assistant(m);
    if (m.role === "tool") return this.results(m);
    return item(m, "system", h("details", { class: "fold" }, h("summary", {}, "system message"), h("pre", {}, textOf(m))));
  }

  assistant(m) {
    const calls = m.parts.filter((p) => p.type === "tool_call");
    const replies = [];
    const inner = [];
    const names = [];
    for (const p of m.parts) {
      if (p.type === "reasoning" || (p.type === "text" && calls.length)) {
        inner.push(h("p", { class: "monologue" }, p.text));
      } else if (p.type === "text") {
        replies.push(h("div", { class: "bubble" }, p.text));
      } else if (p.type === "tool_call") {
        const args = parsed(p.arguments);
        if (p.name === SEND && typeof args?.message === "string") {
          replies.push(h("div", { class: "bubble" }, args.message));
          this.quiet.add(p.id);
          continue;
        }
        names.push(p.name);
        const result = h("pre", { class: "result waiting" }, "no result yet");
        this.slots.set(p.id, result);
        inner.push(h("div", { class: "call" },
          h("div", { class: "call-name" }, h("code", {}, p.name)),
          h("pre", { class: "args" }, args ? JSON.stringify(args, null, 2) : p.arguments),
          result));
      }
    }
    const label = [
      m.parts.some((p) => p.type === "reasoning") ? "inner monologue" : null,
      names.length ? `${names.length} tool call${names.length > 1 ? "s" : ""}: ${names.join(", ")}` : null,
    ].filter(Boolean).join(" · ") || "details";
    const fold = inner.length ? h("details", { class: "fold" }, h("summary", {}, label), inner) : null;
    if (!replies.length && !fold) return null;
    return item(m, replies.length ? "assistant" : "assistant inner", ...replies, fold);
  }

  /** Tool results go under their call; ones whose call is not shown get their own fold. */
  results(m) {
    const loose = [];
    for (const r of m.parts.filter((p) => p.type === "tool_result")) {
      const slot = this.slots.get(r.call_id);
      if (slot) {
        slot.textContent = r.content;
        slot.className = r.is_error ? "result error" : "result";
      } else if (!this.quiet.has(r.call_id) || r.is_error) {
        loose.push(h("details", { class: "fold" }, h("summary", {}, `${r.name} result${r.is_error ? " (error)" : ""}`),
          h("pre", { class: r.is_error ? "result error" : "result" }, r.content)));
      }
    }
    return loose.length ? item(m, "tool", ...loose) : null;
  }

  /** A quiet line in the history (evictions, errors). */
  note(text, kind = "") {
    this.list.append(h("li", { class: `msg note ${kind}` }, text));
    this.follow(true);
  }

  atEnd() {
    const el = this.history;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 120;
  }

  follow(was) { if (was) this.history.scrollTop = this.history.scrollHeight; }

  live() {
    if (!this.pending) {
      const think = h("p", { class: "monologue live" });
      const bubble = h("div", { class: "bubble live" });
      const doing = h("p", { class: "doing muted" });
      const el = h("li", { class: "msg assistant pending", "aria-busy": "true" }, think, bubble, doing);
      this.list.append(el);
      this.pending = { el, think, bubble, doing, thinking: "", calls: new Map() };
    }
    return this.pending;
  }

  drop() {
    this.pending?.el.remove();
    this.pending = null;
  }

  delta(d) {
    const p = this.live();
    if (d.kind !== "tool_call") {
      p.thinking += d.text;
      p.think.textContent = p.thinking;
      return;
    }
    let call = p.calls.get(d.index);
    if (!call) p.calls.set(d.index, (call = { name: d.name, raw: "" }));
    call.raw += d.text;
    if (call.name === SEND) p.bubble.textContent = sentSoFar(call.raw);
    else p.doing.textContent = `calling ${call.name}…`;
  }

  step(s) {
    const u = s.usage;
    const bits = [`step ${s.index + 1}`, `${fmt(u.prompt_tokens)} prompt + ${fmt(u.completion_tokens)} completion tokens`];
    if (u.cached_tokens) bits.push(`${fmt(u.cached_tokens)} cached`);
    if (s.heartbeat) bits.push("heartbeat");
    if (s.stop_reason) bits.push(s.stop_reason.replace("_", " "));
    this.list.append(h("li", { class: "msg step" }, bits.join(" · ")));
  }

  onEvent(type, data) {
    const was = this.atEnd();
    if (type === "delta") this.delta(data);
    else if (type === "message") {
      if (data.message.role === "assistant") this.drop();
      this.render(data.message, this.list);
    } else if (type === "memory") this.hooks.memory(data);
    else if (type === "step") { this.drop(); this.step(data); this.hooks.step(data); }
    else if (type === "run") {
      this.drop();
      if (data.error) this.note(`The turn failed: ${data.error}`, "error");
      this.hooks.run(data);
    }
    this.follow(was);
  }

  async submit() {
    const agent = this.agent;
    const text = this.input.value;
    if (!agent || this.busy || !text.trim()) return;
    this.busy = true;
    this.setEnabled(false);
    this.input.value = "";
    let started = false;
    try {
      await stream(`agents/${enc(agent.id)}/messages/stream`, { text }, (type, data) => {
        started = true;
        if (this.agent === agent) this.onEvent(type, data);
      });
    } catch (err) {
      if (!started && !this.input.value) this.input.value = text; // nothing was stored: keep it
      if (this.agent === agent) this.note(`Not sent: ${err.message}`, "error");
    } finally {
      if (this.agent === agent) {
        this.drop();
        this.busy = false;
        this.setEnabled(true);
        this.input.focus();
      }
    }
  }
}
