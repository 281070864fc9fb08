// The workbench: agents (list, search, create, delete, export, import), the key prompt, the
// inspector tabs, and the wiring that keeps memory and the context map live during a chat.

import { api, clearKey, getKey, onUnauthorized, setKey } from "./api.js";
import { Chat } from "./chat.js";
import { $, confirmDialog, h, status } from "./dom.js";
import { Blocks, ContextMap } from "./memory.js";
import { Archival, Recall } from "./search.js";
import { Tools } from "./tools.js";

const enc = encodeURIComponent;
let agents = [];
let current = null;
let requireKey = false;
let models = null;

/** Run an action; its failure becomes a status line instead of an uncaught rejection. */
function guard(action) {
  return async (...args) => {
    try { return await action(...args); } catch (err) {
      if (err?.status !== 401) status(err?.message || String(err), "error");
      return undefined;
    }
  };
}

// --- live views -----------------------------------------------------------------------------------
const context = new ContextMap();
let refreshing = null;
let again = false;

/** Redraw the context map (one request at a time; a request made meanwhile runs once after). */
const refreshContext = guard(async () => {
  if (refreshing) { again = true; return; }
  try {
    do {
      again = false;
      refreshing = context.refresh();
      const change = await refreshing;
      const before = change?.before;
      const after = change?.after;
      if (before && after && after.context_start > before.context_start) {
        chat.note(`Older messages were evicted from the context window into the recursive summary; ` +
          `the window now starts at message #${after.context_start}.`, "eviction");
      }
    } while (again);
  } finally { refreshing = null; }
});

const blocks = new Blocks(() => refreshContext());
const recall = new Recall();
const archival = new Archival();
const tools = new Tools(() => refreshContext());
const chat = new Chat({
  memory: guard(async (event) => {
    await blocks.refresh(event.blocks);
    if (event.passages) await archival.load(0);
  }),
  step: () => refreshContext(),
  run: () => refreshContext(),
});

// --- agents -------------------------------------------------------------------------------------
function renderAgents() {
  const q = $("#agent-filter").value.trim().toLowerCase();
  const shown = agents.filter((a) => !q || `${a.name} ${a.id} ${a.model}`.toLowerCase().includes(q));
  $("#agent-list").replaceChildren(...shown.map((a) => h("li", {},
    h("button", { type: "button", class: "agent", "data-id": a.id, "aria-current": a.id === current?.id ? "true" : null, onclick: () => select(a.id) },
      h("span", { class: "name" }, a.name), h("span", { class: "muted small" }, a.model)))));
  const empty = $("#agent-empty");
  empty.hidden = shown.length > 0;
  empty.textContent = agents.length ? "No agent matches." : "No agents yet: create one.";
}

async function loadAgents(wanted) {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("agent");
  const id = wanted === undefined ? current?.id ?? fromHash : wanted; // null: no preference
  if (id) chat.prefetch(id); // in parallel with the list: the chat is what the user waits for
  agents = await api("agents");
  $("#who").textContent = getKey() ? "signed in with an API key" : "";
  $("#logout").hidden = !getKey();
  const next = agents.find((a) => a.id === id) ?? agents[0] ?? null;
  renderAgents();
  await select(next?.id ?? null);
}

const select = guard(async (id) => {
  current = agents.find((a) => a.id === id) ?? null;
  renderAgents();
  $("#agent-title").textContent = current ? current.name : "No agent selected";
  $("#agent-model").textContent = current ? `${current.model} · ${current.context_window.toLocaleString("en")} token window` : "";
  $("#export-agent").disabled = $("#delete-agent").disabled = !current;
  history.replaceState(null, "", current ? `#agent=${enc(current.id)}` : location.pathname);
  recall.open(current);
  // what is on screen first; the hidden panels after, so they do not slow the chat down
  await Promise.all([chat.open(current), blocks.open(current)]);
  await Promise.all([context.open(current), archival.open(current), tools.open(current)]);
  if (current) status("");
});

async function openCreate() {
  const dialog = $("#create-dialog");
  $("#create-error").textContent = "";
  if (!models) models = await api("models");
  const select = $("#create-model");
  if (!select.options.length) select.replaceChildren(...models.map((m) => h("option", { value: m }, m)));
  dialog.showModal();
  $("#create-name").focus();
}

async function create(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { name: String(form.get("name")).trim(), model: String(form.get("model")) };
  const windowSize = String(form.get("context_window") || "").trim();
  if (windowSize) body.context_window = Number(windowSize);
  for (const label of ["persona", "human"]) {
    const value = String(form.get(label) || "");
    if (value.trim()) body[label] = value;
  }
  try {
    const agent = await api("agents", { method: "POST", body });
    $("#create-dialog").close();
    event.target.reset();
    status(`Created ${agent.name}.`);
    await loadAgents(agent.id);
  } catch (err) {
    $("#create-error").textContent = err.message;
  }
}

async function remove() {
  if (!current) return;
  const agent = current;
  if (!(await confirmDialog(`Delete the agent “${agent.name}” with all its memory? This cannot be undone.`))) return;
  await api(`agents/${enc(agent.id)}`, { method: "DELETE" });
  status(`Deleted ${agent.name}.`);
  current = null;
  await loadAgents(null);
}

async function exportAgent() {
  const agent = current;
  const file = await api(`agents/${enc(agent.id)}/export`);
  const url = URL.createObjectURL(new Blob([JSON.stringify(file)], { type: "application/json" }));
  const link = h("a", { href: url, download: `${agent.name.replace(/[^\w.-]+/g, "_")}.af` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  status(`Exported ${agent.name}.`);
}

async function importAgent(event) {
  const input = event.target;
  const chosen = input.files?.[0];
  input.value = "";
  if (!chosen) return;
  let file;
  try { file = JSON.parse(await chosen.text()); } catch {
    status(`${chosen.name} is not an agent file (not JSON).`, "error");
    return;
  }
  const name = file?.agents?.[0]?.name;
  const body = { file, copy_suffix: agents.some((a) => a.name === name) }; // names are unique
  const agent = await api("agents/import", { method: "POST", body });
  status(`Imported ${agent.name}.`);
  await loadAgents(agent.id);
}

// --- keys ---------------------------------------------------------------------------------------
function askKey(message = "") {
  const dialog = $("#login-dialog");
  $("#login-error").textContent = message;
  if (!dialog.open) dialog.showModal();
  $("#login-key").focus();
}

onUnauthorized((err) => {
  clearKey();
  agents = [];
  current = null;
  renderAgents();
  askKey(requireKey || getKey() ? `The server refused the key: ${err.message}` : err.message);
});

async function login(event) {
  event.preventDefault();
  const key = $("#login-key").value.trim();
  if (!key) return;
  setKey(key);
  $("#login-key").value = "";
  $("#login-dialog").close();
  await loadAgents();
}

function logout() {
  clearKey();
  agents = [];
  current = null;
  renderAgents();
  select(null);
  $("#logout").hidden = true;
  $("#who").textContent = "";
  askKey();
}

// --- tabs ---------------------------------------------------------------------------------------
function showTab(tab) {
  for (const t of document.querySelectorAll('[role="tab"]')) {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(`#${t.getAttribute("aria-controls")}`).hidden = !on;
  }
}

function wireTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const tab of tabs) {
    tab.addEventListener("click", () => showTab(tab));
    tab.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
      showTab(next);
      next.focus();
    });
  }
}

// --- start --------------------------------------------------------------------------------------
function wire() {
  wireTabs();
  $("#agent-filter").addEventListener("input", renderAgents);
  $("#new-agent").addEventListener("click", guard(openCreate));
  $("#create-form").addEventListener("submit", guard(create));
  $("#create-cancel").addEventListener("click", () => $("#create-dialog").close());
  $("#delete-agent").addEventListener("click", guard(remove));
  $("#export-agent").addEventListener("click", guard(exportAgent));
  $("#import-agent").addEventListener("click", () => $("#import-file").click());
  $("#import-file").addEventListener("change", guard(importAgent));
  $("#login-form").addEventListener("submit", guard(login));
  $("#login-dialog").addEventListener("cancel", (e) => e.preventDefault()); // a key is needed
  $("#logout").addEventListener("click", logout);
}

async function start() {
  wire();
  requireKey = $('meta[name="memgpt-require-key"]')?.content === "true"; // set by the server
  if (requireKey && !getKey()) { askKey(); return; }
  await loadAgents();
}

guard(start)();
