// Core memory (each block with a live chars/limit counter, edit and save, highlighted when
// the agent changes it) and the context-window map (a stacked bar against the window with
// the warning and eviction lines, and the recursive summary beside it).

import { api } from "./api.js";
import { $, chars, clear, fmt, h } from "./dom.js";

const enc = encodeURIComponent;
export const SECTIONS = ["system", "tools", "blocks", "summary", "metadata", "messages"];

export class Blocks {
  constructor(onSaved) {
    this.root = $("#blocks");
    this.onSaved = onSaved;
    this.agent = null;
    this.views = new Map();
  }

  async open(agent) {
    this.agent = agent;
    this.views.clear();
    clear(this.root);
    if (!agent) return;
    const blocks = await api(`agents/${enc(agent.id)}/blocks`);
    if (this.agent !== agent) return;
    for (const b of blocks) this.root.append(this.view(b));
  }

  /** Reload blocks after the agent edited some; changed ones are highlighted. */
  async refresh(labels = []) {
    const agent = this.agent;
    if (!agent) return;
    const blocks = await api(`agents/${enc(agent.id)}/blocks`);
    if (this.agent !== agent) return;
    for (const b of blocks) {
      const v = this.views.get(b.label);
      if (!v) { this.root.append(this.view(b)); continue; }
      const changed = b.value !== v.block.value;
      v.block = b;
      if (v.area.value === v.saved) {
        v.area.value = b.value;
        v.saved = b.value;
      } else if (changed) {
        v.error.textContent = "The agent changed this block; your unsaved edit is kept (Revert shows its version).";
      }
      this.count(v);
      if (changed || labels.includes(b.label)) this.flash(v);
    }
  }

  flash(v) {
    v.el.classList.remove("changed");
    void v.el.offsetWidth; // restart the highlight animation
    v.el.classList.add("changed");
    v.badge.hidden = false;
  }

  view(b) {
    const id = `block-${b.label}`;
    const area = h("textarea", { id, rows: Math.min(12, Math.max(3, b.value.split("\n").length + Math.ceil(b.value.length / 60))), readOnly: b.read_only, spellcheck: false });
    area.value = b.value;
    const counter = h("span", { class: "counter", "aria-live": "polite" });
    const error = h("p", { class: "error", role: "alert" });
    const save = h("button", { type: "button", class: "primary", disabled: true }, "Save");
    const revert = h("button", { type: "button", disabled: true }, "Revert");
    const badge = h("span", { class: "badge updated", hidden: true }, "updated by the agent");
    const el = h("article", { class: "block", "data-label": b.label },
      h("header", {},
        h("label", { for: id, class: "label" }, b.label),
        b.read_only ? h("span", { class: "badge ro" }, "read-only") : null,
        badge, h("span", { class: "spacer" }), counter),
      b.description ? h("p", { class: "muted small" }, b.description) : null,
      area,
      b.read_only ? null : h("div", { class: "actions" }, revert, save),
      error);
    const v = { el, block: b, area, counter, error, save, revert, badge, saved: b.value };
    this.views.set(b.label, v);
    area.addEventListener("input", () => { v.error.textContent = ""; this.count(v); });
    area.addEventListener("keydown", (e) => {
      if (e.key === "s" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); this.save(v); }
    });
    save.addEventListener("click", () => this.save(v));
    revert.addEventListener("click", () => { area.value = v.block.value; v.saved = v.block.value; error.textContent = ""; this.count(v); });
    el.addEventListener("animationend", () => el.classList.remove("changed"));
    this.count(v);
    return el;
  }

  count(v) {
    const n = chars(v.area.value);
    v.counter.textContent = `${fmt(n)} / ${fmt(v.block.limit)}`;
    v.counter.classList.toggle("over", n > v.block.limit);
    const dirty = v.area.value !== v.block.value;
    v.save.disabled = !dirty;
    v.revert.disabled = !dirty;
    v.el.classList.toggle("dirty", dirty);
  }

  async save(v) {
    const agent = this.agent;
    const value = v.area.value;
    const n = chars(value);
    if (n > v.block.limit) {
      v.error.textContent = `Too long: ${fmt(n)} characters; the limit of "${v.block.label}" is ${fmt(v.block.limit)}.`;
      return;
    }
    v.save.disabled = true;
    try {
      v.block = await api(`agents/${enc(agent.id)}/blocks/${enc(v.block.label)}`, { method: "PATCH", body: { value } });
      v.saved = v.block.value;
      v.area.value = v.block.value;
      v.error.textContent = "";
      this.onSaved(v.block);
    } catch (err) {
      v.error.textContent = err.message;
    }
    this.count(v);
  }
}

export class ContextMap {
  constructor() {
    this.bar = $("#ctx-bar");
    this.readout = $("#ctx-readout");
    this.agent = null;
    this.last = null;
  }

  async open(agent) {
    this.agent = agent;
    this.last = null;
    clear(this.bar);
    $("#ctx-total").textContent = "";
    $("#ctx-summary").textContent = "";
    clear($("#ctx-legend tbody"));
    if (agent) await this.refresh();
  }

  /** Fetch and draw the window; returns the previous and new maps (to notice evictions). */
  async refresh() {
    const agent = this.agent;
    if (!agent) return null;
    const map = await api(`agents/${enc(agent.id)}/window`);
    if (this.agent !== agent) return null;
    const before = this.last;
    this.last = map;
    this.draw(map);
    return { before, after: map };
  }

  draw(map) {
    const { report } = map;
    const size = report.context_window;
    const pct = (n) => `${Math.min(100, (100 * n) / size).toFixed(2)}%`;
    const segments = SECTIONS.map((name) => {
      const tokens = report.sections[name] ?? 0;
      const label = `${name}: ${fmt(tokens)} tokens (${((100 * tokens) / size).toFixed(1)}% of the window)`;
      const seg = h("div", { class: `seg seg-${name}`, tabindex: "0", title: label, "data-section": name, "data-tokens": String(tokens), "aria-label": label });
      seg.style.width = pct(tokens);
      const show = () => { this.readout.textContent = label; };
      seg.addEventListener("mouseenter", show);
      seg.addEventListener("focus", show);
      return seg;
    });
    const mark = (cls, tokens, text) => {
      const m = h("div", { class: `mark ${cls}`, title: `${text}: ${fmt(tokens)} tokens` }, h("span", {}, text));
      m.style.left = pct(tokens);
      return m;
    };
    this.bar.replaceChildren(...segments,
      mark("warn", map.warning_tokens, "warning"), mark("evict", map.eviction_tokens, "eviction"));
    this.bar.setAttribute("aria-label",
      `Context window: ${fmt(report.total)} of ${fmt(size)} tokens; warning at ${fmt(map.warning_tokens)}, eviction past ${fmt(map.eviction_tokens)}`);
    $("#ctx-total").textContent =
      `${fmt(report.total)} / ${fmt(size)} tokens (${Math.round((100 * report.total) / size)}%) · ` +
      `${fmt(report.in_context_messages)} messages in context of ${fmt(report.recall_messages)} in recall · ` +
      `${fmt(report.archival_passages)} archival passages`;
    const rows = SECTIONS.map((name) => h("tr", { "data-section": name },
      h("th", { scope: "row" }, h("span", { class: `swatch seg-${name}` }), name),
      h("td", {}, fmt(report.sections[name] ?? 0))));
    rows.push(h("tr", {}, h("th", { scope: "row" }, "warning line"), h("td", {}, fmt(map.warning_tokens))));
    rows.push(h("tr", {}, h("th", { scope: "row" }, "eviction line"), h("td", {}, fmt(map.eviction_tokens))));
    $("#ctx-legend tbody").replaceChildren(...rows);
    $("#ctx-summary").textContent = map.summary || "No summary yet: nothing has been evicted.";
  }
}
