// Building the page from data without ever parsing data as HTML: every string becomes a
// text node or an attribute value, so a message holding <script> or <img onerror> is text.

/** An element: h("li", {class: "x", onclick: fn}, "text", child, [more]). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (typeof value === "boolean" || typeof value === "number" || name === "value") el[name] = value;
    else el.setAttribute(name, value);
  }
  append(el, children);
  return el;
}

/** Append strings (as text) and nodes, skipping null/undefined/false; arrays are flattened. */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Remove every child of el. */
export function clear(el) { el.replaceChildren(); return el; }

const numbers = new Intl.NumberFormat("en");
export const fmt = (n) => numbers.format(n);

/** Characters as Python counts them (code points), as block limits do. */
export const chars = (text) => { let n = 0; for (const _ of text) n++; return n; };

const dates = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
export function when(iso) {
  const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
  return h("time", { datetime: d.toISOString(), title: d.toISOString() }, dates.format(d));
}

/** A short line in the top bar; errors stay until the next status. */
export function status(text, kind = "") {
  const el = $("#status");
  el.textContent = text;
  el.className = `status ${kind}`;
}

/** Ask before something irreversible; resolves true when confirmed. */
export function confirmDialog(text, action = "Delete") {
  const dialog = $("#confirm-dialog");
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = action;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    $("#confirm-cancel").focus();
  });
}
