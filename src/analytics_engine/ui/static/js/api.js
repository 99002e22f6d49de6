// Shared by every screen: the signed-in key, calls to the public API (errors carry the API's exact
// reason), small DOM helpers, the one error banner, toasts, dialogs and the tenant's own names.
export const KEY = "ae_api_key";
export const $ = (id) => document.getElementById(id);
export const state = {
  key: sessionStorage.getItem(KEY), dashboard: null, definition: null, charts: new Map(), source: null,
  filters: {}, retry: null, updates: 0, session: 0, metrics: new Map(), cohorts: [], names: null,
  editing: false, ready: Promise.resolve(),
};
window.aeDashboard = state; // for tests and debugging: the current dashboard state

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || `http_${status}`;
    this.details = error.details;
  }
  // The API's reason, with the field-level details when it gave them (`details.errors[]` or a list).
  get full() { return reasonOf({ message: this.message, code: this.code, details: this.details }); }
}

export function reasonOf(error, detailsOnly = false) {
  const raw = error.details && (Array.isArray(error.details) ? error.details : error.details.errors);
  const details = Array.isArray(raw) ? raw.map((d) => {
    if (!d || typeof d !== "object") return String(d || "");
    const where = [].concat(d.loc || d.field || []).filter((x) => x !== "body").join(".");
    const text = d.message || d.msg || "";
    return where ? `${where}: ${text}` : text;
  }).filter(Boolean) : [];
  if (detailsOnly && details.length) return `${details.join("; ")} (${error.code})`;
  const extra = details.filter((d) => !error.message.includes(d));
  return `${error.message}${extra.length ? ` — ${extra.join("; ")}` : ""} (${error.code})`;
}

// An answer index.html's inline script asked for before the modules loaded (same key, a GET), once.
async function early(path, init) {
  const started = window.aeEarly;
  if (!started || started.key !== state.key || (init.method || "GET") !== "GET" || !started.responses[path]) return null;
  const pending = started.responses[path];
  delete started.responses[path];
  try { return await pending; } catch (_) { return null; } // a network error: asked again below
}

export async function api(path, options = {}) {
  const session = state.session;
  const init = { ...options, headers: { Authorization: `Bearer ${state.key}`, ...(options.headers || {}) } };
  if (options.json !== undefined) {
    init.body = JSON.stringify(options.json);
    init.headers["Content-Type"] = "application/json";
    delete init.json;
  }
  let response = await early(path, init) || await fetch(path, init);
  // 429 (the tenant's concurrent-query budget): a read (GET, an insight) is tried again shortly
  const read = (init.method || "GET") === "GET" || path.startsWith("/v1/insights");
  for (let attempt = 1; response.status === 429 && read && attempt <= 4; attempt++) {
    const wait = Number(response.headers.get("Retry-After")) * 1000 || 250 * attempt;
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 2000)));
    if (session !== state.session) break;
    response = await fetch(path, init);
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (session !== state.session) throw Object.assign(new Error("signed out"), { stale: true });
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "text") element.textContent = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// ---------------------------------------------------------------- messages
export function showError(error) {
  if (error && error.stale) return;
  const banner = $("dashboard-error");
  banner.textContent = error instanceof ApiError ? error.full : typeof error === "string" ? error : String(error.message || error);
  banner.hidden = false;
}
export function clearError() { $("dashboard-error").hidden = true; $("dashboard-error").textContent = ""; }

let toastTimer = null;
export function toast(text) {
  const element = $("toast");
  element.textContent = text;
  element.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { element.hidden = true; }, 3500);
}

// A modal form (native <dialog>: focus stays inside, Escape closes). `fields` are label/input pairs;
// `submit(values)` may throw an ApiError, shown inside the dialog; resolves with its result or null.
export function dialog(title, fields, submit, okText = "Save") {
  const element = $("dialog");
  $("dialog-title").textContent = title;
  const body = $("dialog-body");
  body.innerHTML = "";
  for (const field of fields) body.append(field);
  $("dialog-ok").textContent = okText;
  $("dialog-error").hidden = true;
  element.showModal();
  const focus = body.querySelector("input, select, textarea");
  if (focus) focus.focus();
  return new Promise((resolve) => {
    const form = $("dialog-form");
    const done = (value) => {
      form.onsubmit = null; $("dialog-cancel").onclick = null; element.onclose = null;
      if (element.open) element.close();
      resolve(value);
    };
    $("dialog-cancel").onclick = () => done(null);
    element.onclose = () => done(null);
    form.onsubmit = async (event) => {
      event.preventDefault();
      const values = Object.fromEntries(new FormData(form).entries());
      try {
        $("dialog-ok").disabled = true;
        done(await submit(values));
      } catch (error) {
        $("dialog-error").textContent = error instanceof ApiError ? error.full : String(error.message || error);
        $("dialog-error").hidden = false;
      } finally {
        $("dialog-ok").disabled = false;
      }
    };
  });
}

export function field(label, name, value = "", attrs = {}) {
  const id = `dlg-${name}`;
  const input = attrs.type === "textarea"
    ? h("textarea", { id, name, rows: 3, ...attrs, type: null }, value)
    : h("input", { id, name, value, ...attrs });
  return h("div", { class: "field" }, h("label", { for: id, text: label }), input);
}
export function selectField(label, name, options, value) {
  const id = `dlg-${name}`;
  const select = h("select", { id, name }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
  return h("div", { class: "field" }, h("label", { for: id, text: label }), select);
}

// ---------------------------------------------------------------- the tenant's own names
// From the taxonomy (GET /v1/taxonomy): event names and property keys, busiest first, hidden ones left
// out; each property with its JSON type and the events it comes with. Fetched once per sign-in.
let namesPending = null; // [session, promise]: a second caller waits for the same answer
export async function loadNames() {
  if (state.names) return state.names;
  if (namesPending && namesPending[0] === state.session) return namesPending[1];
  const pending = fetchNames();
  namesPending = [state.session, pending];
  try { return await pending; } finally { if (namesPending && namesPending[1] === pending) namesPending = null; }
}
async function fetchNames() {
  let taxonomy;
  try { taxonomy = await api("/v1/taxonomy"); } catch (error) {
    if (error.stale) throw error;
    console.warn("taxonomy unavailable:", error.message); // the pickers stay free text
    return { events: [], properties: [] };
  }
  const names = {
    events: taxonomy.events.map((e) => ({ name: e.name, count: e.volume, description: e.description })),
    properties: taxonomy.properties.map((p) => ({ name: p.key, count: p.volume, type: p.type, events: p.event_names })),
  };
  state.names = names;
  const fmtCount = (n) => `${fmt(n)} events`;
  $("event-names").replaceChildren(...names.events.map((e) => h("option", { value: e.name },
    e.description ? `${fmtCount(e.count)} · ${e.description}` : fmtCount(e.count))));
  $("property-keys").replaceChildren(...names.properties.map((p) => h("option", { value: p.name }, p.type)));
  return names;
}

// ---------------------------------------------------------------- formatting
const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
export function fmt(value, format, unit) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (format === "percent") return `${numberFormat.format(value)}%`;
  const text = Math.abs(value) >= 100000
    ? new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 }).format(value)
    : numberFormat.format(value);
  return unit && format === "currency" ? `${text} ${unit}` : text;
}
export function shortLabel(label) {
  if (typeof label !== "string") return String(label);
  const match = label.match(/^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}))?/);
  if (!match) return label;
  return match[2] && match[2] !== "00:00" ? `${match[1].slice(5)} ${match[2]}` : match[1].slice(5);
}
export function rangeText(range) {
  const match = typeof range === "string" && range.match(/^-(\d+)([hdwmy])$/);
  if (!match) return range ? `since ${range}` : "in range";
  const unit = { h: "hour", d: "day", w: "week", m: "month", y: "year" }[match[2]];
  return `last ${match[1]} ${unit}${match[1] === "1" ? "" : "s"}`;
}
