// The server's API with the caller's key: JSON calls and the native event stream.
// The key lives only in this tab's sessionStorage and goes out as "Authorization: Bearer".

const KEY = "memgpt.key";
export const BASE = "/memgpt/v1";

export class ApiError extends Error {
  constructor(status, detail, type) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.type = type || "";
  }
}

let unauthorized = () => {};

/** Called with the error whenever the server answers 401 (the page asks for a key again). */
export function onUnauthorized(handler) { unauthorized = handler; }

export function getKey() { return sessionStorage.getItem(KEY); }
export function setKey(key) { sessionStorage.setItem(KEY, key); }
export function clearKey() { sessionStorage.removeItem(KEY); }

function headers(extra = {}) {
  const out = { Accept: "application/json", ...extra };
  const key = getKey();
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(name, String(v));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function failure(response) {
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  const err = new ApiError(response.status, body?.detail ?? response.statusText, body?.type);
  if (response.status === 401) unauthorized(err);
  return err;
}

/** One JSON call under /memgpt/v1 (or an absolute path); null for 204. Throws ApiError. */
export async function api(path, { method = "GET", body, query } = {}) {
  const url = withQuery(path.startsWith("/") ? path : `${BASE}/${path}`, query);
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(url, init);
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  return response.json();
}

/** Send a message on the native stream; onEvent(type, data) for each loop event, in order. */
export async function stream(path, body, onEvent) {
  const response = await fetch(`${BASE}/${path}`, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = "message";
      const data = [];
      for (const line of chunk.split("\n")) {
        if (line.startsWith("event: ")) type = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length === 0) continue;
      const text = data.join("\n");
      if (text === "[DONE]") return;
      onEvent(type, JSON.parse(text));
    }
  }
}
