// Recall search (words and/or a date range, paginated) and archival memory (list, search,
// insert, delete, paginated).

import { api } from "./api.js";
import { summarize } from "./chat.js";
import { $, clear, confirmDialog, fmt, h, when } from "./dom.js";

const enc = encodeURIComponent;
const RECALL_PAGE = 10;
const ARCHIVAL_PAGE = 20;

/** A date input (YYYY-MM-DD) as the start of that day in UTC; ``next`` gives the day after. */
function utcDay(value, next = false) {
  if (!value) return undefined;
  const d = new Date(`${value}T00:00:00Z`);
  if (next) d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString();
}

export class Recall {
  constructor() {
    this.form = $("#recall-form");
    this.list = $("#recall-results");
    this.total = $("#recall-total");
    this.prev = $("#recall-prev");
    this.next = $("#recall-next");
    this.agent = null;
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.search(0); });
    this.prev.addEventListener("click", () => this.search(Math.max(0, this.offset - RECALL_PAGE)));
    this.next.addEventListener("click", () => this.search(this.offset + RECALL_PAGE));
  }

  open(agent) {
    this.agent = agent;
    this.offset = 0;
    clear(this.list);
    this.total.textContent = "";
    this.prev.disabled = this.next.disabled = true;
  }

  async search(offset) {
    const agent = this.agent;
    if (!agent) return;
    const f = new FormData(this.form);
    const start = f.get("start");
    const end = f.get("end");
    if (start && end && end < start) {
      this.total.textContent = "The end date is before the start date.";
      return;
    }
    const query = { query: String(f.get("query") || "").trim(), start: utcDay(start), end: utcDay(end, true), limit: RECALL_PAGE, offset };
    try {
      const page = await api(`agents/${enc(agent.id)}/messages/search`, { query });
      if (this.agent !== agent) return;
      this.offset = offset;
      this.total.textContent = page.total
        ? `${fmt(page.total)} found; showing ${fmt(offset + 1)}–${fmt(offset + page.items.length)}`
        : "0 found";
      this.list.replaceChildren(...page.items.map((m) => h("li", { class: "result-item" },
        h("div", { class: "meta" }, h("span", { class: "who" }, m.role), " #", String(m.seq), " ", when(m.created_at)),
        h("p", { class: "text" }, summarize(m)))));
      this.prev.disabled = offset === 0;
      this.next.disabled = offset + page.items.length >= page.total;
    } catch (err) {
      this.total.textContent = err.message;
    }
  }
}

export class Archival {
  constructor() {
    this.list = $("#archival-results");
    this.total = $("#archival-total");
    this.prev = $("#archival-prev");
    this.next = $("#archival-next");
    this.error = $("#archival-error");
    this.agent = null;
    this.query = "";
    $("#archival-insert").addEventListener("submit", (e) => { e.preventDefault(); this.insert(); });
    $("#archival-search").addEventListener("submit", (e) => {
      e.preventDefault();
      this.query = String(new FormData(e.target).get("query") || "").trim();
      this.load(0);
    });
    $("#archival-clear").addEventListener("click", () => {
      this.query = "";
      $("#archival-search").reset();
      this.load(0);
    });
    this.prev.addEventListener("click", () => this.load(Math.max(0, this.offset - ARCHIVAL_PAGE)));
    this.next.addEventListener("click", () => this.load(this.offset + ARCHIVAL_PAGE));
  }

  async open(agent) {
    this.agent = agent;
    this.query = "";
    this.offset = 0;
    clear(this.list);
    this.total.textContent = "";
    this.error.textContent = "";
    if (agent) await this.load(0);
  }

  /** A page of passages: newest first, or the best matches of the search. */
  async load(offset) {
    const agent = this.agent;
    if (!agent) return;
    try {
      let items;
      if (this.query) {
        // search has no offset: ask for this page's end and show its last page
        const found = await api(`agents/${enc(agent.id)}/passages/search`, { query: { query: this.query, limit: offset + ARCHIVAL_PAGE } });
        items = found.slice(offset);
        this.more = found.length === offset + ARCHIVAL_PAGE;
      } else {
        items = await api(`agents/${enc(agent.id)}/passages`, { query: { limit: ARCHIVAL_PAGE + 1, offset } });
        this.more = items.length > ARCHIVAL_PAGE;
        items = items.slice(0, ARCHIVAL_PAGE);
      }
      if (this.agent !== agent) return;
      this.offset = offset;
      const what = this.query ? `matches for “${this.query}”` : "passages, newest first";
      this.total.textContent = items.length
        ? `${what}: ${fmt(offset + 1)}–${fmt(offset + items.length)}`
        : (this.query ? `No ${what}.` : "No passages yet.");
      this.list.replaceChildren(...items.map((p) => this.item(p)));
      this.prev.disabled = offset === 0;
      this.next.disabled = !this.more;
    } catch (err) {
      this.total.textContent = err.message;
    }
  }

  item(p) {
    const del = h("button", { type: "button", class: "danger small" }, "Delete");
    del.setAttribute("aria-label", `Delete passage ${p.text.slice(0, 40)}`);
    del.addEventListener("click", async () => {
      if (!(await confirmDialog("Delete this archival passage? This cannot be undone."))) return;
      try {
        await api(`agents/${enc(this.agent.id)}/passages/${enc(p.id)}`, { method: "DELETE" });
        await this.load(this.offset);
      } catch (err) { this.error.textContent = err.message; }
    });
    return h("li", { class: "result-item", "data-id": p.id },
      h("div", { class: "meta" }, when(p.created_at), p.tags.map((t) => h("span", { class: "tag" }, t)), h("span", { class: "spacer" }), del),
      h("p", { class: "text" }, p.text));
  }

  async insert() {
    const text = $("#archival-text").value.trim();
    const tags = $("#archival-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
    if (!text) return;
    try {
      await api(`agents/${enc(this.agent.id)}/passages`, { method: "POST", body: { text, tags: tags.length ? tags : null } });
      $("#archival-insert").reset();
      this.error.textContent = "";
      this.query = "";
      await this.load(0);
    } catch (err) { this.error.textContent = err.message; }
  }
}
