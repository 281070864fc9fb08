// The agent's tools with their schemas; attach and detach custom tools; create one from
// Python source, with the server's validation errors shown as it words them.

import { api } from "./api.js";
import { $, clear, h } from "./dom.js";

const enc = encodeURIComponent;

export class Tools {
  constructor(onChange) {
    this.mine = $("#agent-tools");
    this.others = $("#other-tools");
    this.error = $("#tool-error");
    this.onChange = onChange;
    this.agent = null;
    $("#tool-create").addEventListener("submit", (e) => { e.preventDefault(); this.create(); });
  }

  async open(agent) {
    this.agent = agent;
    clear(this.mine);
    clear(this.others);
    this.error.textContent = "";
    if (agent) await this.load();
  }

  async load() {
    const agent = this.agent;
    const [attached, all] = await Promise.all([api(`agents/${enc(agent.id)}/tools`), api("tools")]);
    if (this.agent !== agent) return;
    const names = new Set(attached.map((t) => t.name));
    this.mine.replaceChildren(...attached.map((t) => this.item(t, true)));
    const rest = all.filter((t) => !t.builtin && !names.has(t.name));
    this.others.replaceChildren(...(rest.length ? rest.map((t) => this.item(t, false)) : [h("li", { class: "muted" }, "None.")]));
  }

  item(tool, attached) {
    const action = tool.builtin ? null : h("button", { type: "button", class: attached ? "small" : "small primary" }, attached ? "Detach" : "Attach");
    action?.setAttribute("aria-label", `${attached ? "Detach" : "Attach"} ${tool.name}`);
    action?.addEventListener("click", () => this.toggle(tool, attached));
    return h("li", { class: "tool", "data-name": tool.name },
      h("details", {},
        h("summary", {}, h("code", {}, tool.name), " ", h("span", { class: `badge ${tool.builtin ? "" : "custom"}` }, tool.builtin ? "base" : "custom")),
        h("p", { class: "small" }, tool.spec.description),
        h("pre", { class: "schema" }, JSON.stringify(tool.spec.parameters, null, 2)),
        tool.source_code ? h("pre", { class: "code" }, tool.source_code) : null),
      action);
  }

  async toggle(tool, attached) {
    try {
      await api(`agents/${enc(this.agent.id)}/tools/${enc(tool.id)}`, { method: attached ? "DELETE" : "PUT" });
      this.error.textContent = "";
      await this.load();
      this.onChange();
    } catch (err) { this.error.textContent = err.message; }
  }

  async create() {
    const source = $("#tool-source").value;
    try {
      const tool = await api("tools", { method: "POST", body: { source_code: source } });
      $("#tool-source").value = "";
      this.error.textContent = "";
      await this.load();
      this.others.querySelector(`[data-name="${CSS.escape(tool.name)}"] button`)?.focus();
    } catch (err) { this.error.textContent = err.message; }
  }
}
