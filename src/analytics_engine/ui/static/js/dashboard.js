// Dashboards: the list, one dashboard's widgets (render + live SSE updates), filters (this visit or
// saved), the widget menu (edit, table, people, export, remove), layout editing (move, resize), and
// dashboard create / rename / describe / duplicate / delete, with a guided first dashboard.
import { $, api, clearError, dialog, field, h, loadNames, reasonOf, showError, state, toast } from "./api.js";
import { displayOf, draw, drawTable, seriesOf } from "./charts.js";
import { closeDrawer, drill, drillPoint, drillStep, exportSource, openDrawer, withFilters } from "./drill.js";

// ---------------------------------------------------------------- list
export async function showDashboards() {
  const dashboards = await api("/v1/dashboards");
  const list = $("dashboard-list");
  list.replaceChildren(...dashboards.map((d) => h("li", {}, h("a", { href: `#/d/${encodeURIComponent(d.id)}` }, d.name,
    h("small", {}, `${d.widgets} widget${d.widgets === 1 ? "" : "s"}`)))));
  if (!dashboards.length) list.replaceChildren(h("li", { class: "muted" }, "No dashboards yet."));
  markActive();
  return dashboards;
}
function markActive() {
  const id = state.dashboard && state.dashboard.dashboard_id;
  for (const a of document.querySelectorAll("#dashboard-list a")) {
    const active = id && a.getAttribute("href") === `#/d/${encodeURIComponent(id)}`;
    a.classList.toggle("active", Boolean(active));
    if (active) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

// ---------------------------------------------------------------- filters
export function filterQuery(filters = state.filters) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) {
    if (value === undefined || value === null || value === "" || (Array.isArray(value) && !value.length)) continue;
    params.set(name, typeof value === "string" ? value : JSON.stringify(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}
function effectiveFilters() {
  const saved = (state.definition && state.definition.filters) || {};
  const merged = { ...saved };
  for (const [k, v] of Object.entries(state.filters)) if (v !== undefined && v !== "" && !(Array.isArray(v) && !v.length)) merged[k] = v;
  return merged;
}
function propRow(filter = {}) {
  const n = document.querySelectorAll("#f-props .prop").length + 1;
  const row = h("div", { class: "prop" },
    h("input", { class: "p-key", list: "property-keys", placeholder: "property", size: 10, value: filter.key || "", "aria-label": `Filter ${n} property` }),
    h("select", { class: "p-op", "aria-label": `Filter ${n} operator` }, [["eq", "="], ["neq", "≠"], ["contains", "contains"], ["gt", ">"], ["lt", "<"], ["is_set", "is set"]]
      .map(([v, t]) => h("option", { value: v, selected: v === filter.operator }, t))),
    h("input", { class: "p-value", placeholder: "value", size: 10, value: filter.value ?? "", "aria-label": `Filter ${n} value` }),
    h("button", { type: "button", class: "ghost small", "aria-label": `Remove filter ${n}`, onclick: () => row.remove() }, "✕"));
  $("f-props").append(row);
  return row;
}
export function readFilters() {
  const filters = {};
  const range = $("f-range").value;
  if (range === "custom") {
    if ($("f-from").value) filters.date_from = $("f-from").value;
    if ($("f-to").value) filters.date_to = $("f-to").value;
  } else if (range) {
    filters.date_from = range;
  }
  if ($("f-interval").value) filters.interval = $("f-interval").value;
  if ($("f-tz").value.trim()) filters.timezone = $("f-tz").value.trim();
  if ($("f-cohort").value) filters.cohort_id = $("f-cohort").value;
  const properties = [];
  for (const row of document.querySelectorAll("#f-props .prop")) {
    const key = row.querySelector(".p-key").value.trim();
    if (!key) continue;
    const operator = row.querySelector(".p-op").value;
    const raw = row.querySelector(".p-value").value;
    const item = { key, operator };
    if (operator !== "is_set") item.value = (operator === "gt" || operator === "lt") && raw !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
    properties.push(item);
  }
  if (properties.length) filters.properties = properties;
  return filters;
}
export function resetFilterForm() {
  $("filters").reset();
  $("f-props").querySelectorAll(".prop").forEach((row) => row.remove());
  for (const el of document.querySelectorAll(".filters .custom")) el.hidden = true;
}
function fillFilterForm(filters) {
  resetFilterForm();
  const range = filters.date_from || "";
  const known = [...$("f-range").options].some((o) => o.value === range);
  if (filters.date_to || (range && !known)) {
    $("f-range").value = "custom";
    $("f-from").value = (range || "").slice(0, 10);
    $("f-to").value = (filters.date_to || "").slice(0, 10);
    for (const el of document.querySelectorAll(".filters .custom")) el.hidden = false;
  } else $("f-range").value = range;
  $("f-interval").value = filters.interval || "";
  $("f-tz").value = filters.timezone || "";
  $("f-cohort").value = filters.cohort_id || "";
  for (const p of filters.properties || []) propRow(p);
}
$("f-add-prop").addEventListener("click", () => propRow().querySelector("input").focus());
$("f-range").addEventListener("change", () => {
  for (const el of document.querySelectorAll(".filters .custom")) el.hidden = $("f-range").value !== "custom";
});
$("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  state.filters = readFilters();
  if (state.dashboard) openDashboard(state.dashboard.dashboard_id);
});
$("save-filters").addEventListener("click", async () => {
  if (!state.dashboard) return;
  try {
    await api(`/v1/dashboards/${state.dashboard.dashboard_id}`, { method: "PATCH", json: { filters: readFilters() } });
    state.filters = {};
    toast("Filters saved with the dashboard.");
    await openDashboard(state.dashboard.dashboard_id);
  } catch (error) { showError(error); }
});
$("reset-filters").addEventListener("click", () => {
  state.filters = {};
  if (state.dashboard) openDashboard(state.dashboard.dashboard_id);
});

// ---------------------------------------------------------------- widgets
export function destroyChart(id) {
  const chart = state.charts.get(id);
  if (chart) { chart.destroy(); state.charts.delete(id); }
}
function definitionOf(widgetId) {
  return state.definition && state.definition.widgets.find((w) => w.id === widgetId);
}
// The insight query behind a widget (inline, or its metric's), with the dashboard's filters folded in.
export function queryOf(widgetId) {
  const definition = definitionOf(widgetId);
  if (!definition) return null;
  const metric = definition.metric_id ? state.metrics.get(definition.metric_id) : null;
  let query = definition.query || (metric && metric.definition.query);
  // a metric widget's dimensions are its breakdown
  if (query && !definition.query && definition.dimensions && definition.dimensions.length) query = { ...query, breakdown: definition.dimensions };
  return query ? withFilters(query, effectiveFilters()) : null;
}

function drawWidget(widget, element, repeated = new Set()) {
  destroyChart(widget.id);
  const body = element.querySelector(".body");
  const warning = element.querySelector(".warning");
  warning.hidden = !widget.warning;
  warning.textContent = widget.warning || "";
  const meta = element.querySelector(".meta");
  meta.textContent = metaOf(widget);
  meta.title = meta.textContent; // the whole label when the widget is too narrow for it
  element.dataset.viz = widget.viz;
  element.dataset.state = widget.error ? "error" : widget.pending ? "pending" : widget.stale ? "stale" : "fresh";
  element.setAttribute("aria-busy", String(Boolean(widget.pending || widget.stale)));
  if (widget.pending) {
    body.replaceChildren(h("div", { class: "widget-pending", role: "status" }, "Computing…"));
    return;
  }
  if (widget.error) {
    const text = repeated.has(reasonOf(widget.error, true)) ? "Not shown: see the message above." : reasonOf(widget.error);
    body.replaceChildren(h("div", { class: "widget-error" }, text));
    return;
  }
  const definition = definitionOf(widget.id) || {};
  const metric = widget.metric_id ? state.metrics.get(widget.metric_id) : null;
  const display = element.dataset.table === "1" ? "table" : displayOf({ ...widget, options: definition.options });
  const onDrill = (hit) => {
    const query = queryOf(widget.id);
    if (query) drill(widget.title, query, hit, widget.data);
  };
  const chart = draw(widget, body, { display, meta: metric && metric.definition, onDrill });
  if (chart) state.charts.set(widget.id, chart);
}

// The label beside a widget's title: how old its answer is and where it came from.
const SERVED = { rollup: "rollups", property_rollup: "property rollups", preaggregation: "pre-aggregation", raw: "events" };
function metaOf(widget) {
  if (widget.pending) return "computing…";
  if (!widget.computed_at) return "";
  const at = new Date(widget.computed_at).toLocaleTimeString();
  const by = widget.data && SERVED[widget.data.served_by] ? ` · ${SERVED[widget.data.served_by]}` : "";
  if (widget.stale) return `last known, as of ${at} · updating…`; // (tests look for "last known, as of")
  return `${widget.cached ? "cached · " : ""}${at}${by}`;
}

// Paint marks for the bench and tests (ms after navigation start): the first widget drawn with data,
// every widget drawn with an answer (fresh, or its last known one labelled with its age), every widget fresh.
function markPaint(widgets) {
  const now = String(Math.round(performance.now()));
  const body = document.body.dataset;
  if (!body.firstWidgetMs && widgets.some((w) => w.data)) body.firstWidgetMs = now;
  if (!body.firstPaintMs && widgets.every((w) => !w.pending)) body.firstPaintMs = now;
  if (!body.freshPaintMs && widgets.every((w) => !w.pending && !w.stale)) body.freshPaintMs = now;
}

// The same failure in several widgets: said once, above the grid, with the API's whole reason; the
// widgets say "see above". Checked again as each widget's own answer comes.
function repeatedErrors(widgets) {
  const counts = new Map();
  for (const w of widgets) if (w.error) counts.set(reasonOf(w.error, true), (counts.get(reasonOf(w.error, true)) || 0) + 1);
  return { counts, repeated: new Set([...counts].filter(([, n]) => n > 1).map(([m]) => m)) };
}
function sayRepeatedErrors() {
  const { counts, repeated } = repeatedErrors(state.dashboard.widgets);
  if (!repeated.size) return;
  for (const widget of state.dashboard.widgets) {
    if (!widget.error || !repeated.has(reasonOf(widget.error, true))) continue;
    const element = document.querySelector(`[data-widget-id="${CSS.escape(widget.id)}"]`);
    if (element) drawWidget(widget, element, repeated);
  }
  const reason = [...repeated][0];
  showError(`${counts.get(reason)} widgets could not be drawn: ${reason}`);
}

// Each widget answered stale or pending is asked for on its own, drawn the moment it comes.
function revalidate(id, widgets) {
  const session = state.session;
  const shown = state.dashboard; // replaced by a new render (other filters, another dashboard): answers dropped
  const filters = filterQuery();
  for (const widget of widgets.filter((w) => w.stale || w.pending)) {
    const query = `${filters ? `${filters}&` : "?"}widgets=${encodeURIComponent(widget.id)}`;
    api(`/v1/dashboards/${encodeURIComponent(id)}/render${query}`).then((result) => {
      if (session !== state.session || state.dashboard !== shown || shown.dashboard_id !== id) return;
      const fresh = result.widgets[0];
      const known = state.dashboard.widgets.find((w) => w.id === widget.id);
      if (!fresh || !known || !(known.stale || known.pending)) return; // the stream was quicker
      applyWidget(fresh);
    }).catch((error) => {
      if (error.stale || session !== state.session || state.dashboard !== shown) return;
      const known = state.dashboard && state.dashboard.widgets.find((w) => w.id === widget.id);
      if (known && known.pending) applyWidget({ ...known, pending: false, error: { code: error.code || "error", message: error.message } });
    });
  }
}

function placeWidget(element, layout) {
  element.style.gridColumn = `${layout.x + 1} / span ${Math.min(layout.w, 12 - layout.x)}`;
  element.style.gridRow = `${layout.y + 1} / span ${layout.h}`;
}

function widgetElement(widget) {
  const element = h("article", { class: "widget", dataset: { widgetId: widget.id }, "aria-label": widget.title },
    h("header", {}, h("h3", {}, widget.title), h("span", { class: "meta" }),
      h("details", { class: "menu widget-menu" }, h("summary", { class: "ghost-button small", "aria-label": `Actions for ${widget.title}` }, "⋯"),
        h("div", { class: "menu-items" },
          h("button", { type: "button", class: "ghost", dataset: { action: "table" } }, "Show table"),
          h("button", { type: "button", class: "ghost", dataset: { action: "edit" } }, "Edit"),
          h("button", { type: "button", class: "ghost", dataset: { action: "people" } }, "People…"),
          h("button", { type: "button", class: "ghost", dataset: { action: "export" } }, "Export CSV"),
          h("button", { type: "button", class: "ghost danger", dataset: { action: "remove" } }, "Remove")))),
    h("p", { class: "warning" }), h("div", { class: "body" }),
    h("div", { class: "layout-tools", role: "group", "aria-label": `Move or resize ${widget.title}` },
      [["left", "←", "Move left"], ["up", "↑", "Move up"], ["down", "↓", "Move down"], ["right", "→", "Move right"],
        ["narrower", "−W", "Narrower"], ["wider", "+W", "Wider"], ["shorter", "−H", "Shorter"], ["taller", "+H", "Taller"]]
        .map(([action, text, label]) => h("button", { type: "button", class: "ghost small", dataset: { layout: action }, "aria-label": `${label}: ${widget.title}` }, text))));
  placeWidget(element, widget.layout || { x: 0, y: 0, w: 6, h: 4 });
  element.querySelector(".widget-menu").addEventListener("click", (event) => {
    const action = event.target.dataset && event.target.dataset.action;
    if (!action) return;
    const menu = event.target.closest("details");
    menu.open = false;
    menu.querySelector("summary").focus(); // focus stays on the widget, not lost with the closed menu
    widgetAction(action, widget.id, element);
  });
  element.querySelector(".layout-tools").addEventListener("click", (event) => {
    const action = event.target.dataset && event.target.dataset.layout;
    if (action) moveWidget(widget.id, element, action);
  });
  return element;
}

async function widgetAction(action, widgetId, element) {
  const widget = state.dashboard.widgets.find((w) => w.id === widgetId);
  if (action === "table") {
    element.dataset.table = element.dataset.table === "1" ? "" : "1";
    element.querySelector("[data-action='table']").textContent = element.dataset.table ? "Show chart" : "Show table";
    drawWidget(widget, element);
  } else if (action === "edit") {
    location.hash = `#/insight?dashboard=${encodeURIComponent(state.dashboard.dashboard_id)}&widget=${encodeURIComponent(widgetId)}`;
  } else if (action === "people") {
    // the people of the latest full period (a trend) or of the first step (a funnel)
    const query = queryOf(widgetId);
    if (query && query.kind === "funnels") return drillStep(widget.title, query, 1);
    const cohort = query && query.kind === "retention" && ((widget.data && widget.data.retention) || []).find((r) => r.size);
    const node = query && query.kind === "paths" && ((widget.data && widget.data.nodes) || [])[0];
    if (node) return drill(widget.title, query, { kind: "path", step: node.step, name: node.name });
    if (cohort) return drill(widget.title, query, { kind: "cell", cohort: cohort.date, period: 0, breakdown: cohort.breakdown_value || null, label: cohort.label });
    const first = query && query.kind === "trends" && widget.data ? seriesOf(widget.data)[0] : null;
    if (first && first.values.length) {
      const chart = state.charts.get(widgetId);
      const partial = chart && chart.partialIndex >= 0 ? 1 : 0;
      return drillPoint(widget.title, query, { series: first, index: Math.max(0, first.values.length - 1 - partial) }, widget.data);
    }
    openDrawer(widget.title, h("p", { class: "muted" }, "People are shown for trends, funnels, retention and paths: click a point, a bar, a step, a cell or a node."));
  } else if (action === "export") {
    try {
      await exportSource({ type: "insight", query: queryOf(widgetId) }, "csv");
    } catch (error) { showError(error); }
  } else if (action === "remove") {
    const ok = await dialog(`Remove “${widget.title}”?`, [h("p", {}, "The widget leaves this dashboard; its metric stays in the registry.")],
      () => api(`/v1/dashboards/${state.dashboard.dashboard_id}/widgets/${widgetId}`, { method: "DELETE" }).then(() => true), "Remove");
    if (ok) { toast("Widget removed."); await openDashboard(state.dashboard.dashboard_id); await showDashboards(); }
  }
}

async function moveWidget(widgetId, element, action) {
  const definition = definitionOf(widgetId);
  const widget = state.dashboard.widgets.find((w) => w.id === widgetId);
  const l = { ...(definition ? definition.layout : widget.layout) };
  if (action === "left") l.x = Math.max(0, l.x - 1);
  if (action === "right") l.x = Math.min(12 - l.w, l.x + 1);
  if (action === "up") l.y = Math.max(0, l.y - 1);
  if (action === "down") l.y = Math.min(1000, l.y + 1);
  if (action === "narrower") l.w = Math.max(2, l.w - 1);
  if (action === "wider") l.w = Math.min(12 - l.x, l.w + 1);
  if (action === "shorter") l.h = Math.max(2, l.h - 1);
  if (action === "taller") l.h = Math.min(12, l.h + 1);
  placeWidget(element, l);
  if (definition) definition.layout = l;
  widget.layout = l;
  try {
    await api(`/v1/dashboards/${state.dashboard.dashboard_id}/widgets/${widgetId}`, { method: "PATCH", json: { layout: l } });
    element.dataset.saved = JSON.stringify(l);
  } catch (error) { showError(error); }
}

$("edit-layout").addEventListener("click", () => {
  state.editing = !state.editing;
  $("edit-layout").setAttribute("aria-pressed", String(state.editing));
  $("edit-layout").textContent = state.editing ? "Done" : "Edit layout";
  $("grid").classList.toggle("editing", state.editing);
});

// ---------------------------------------------------------------- one dashboard
export function clearDashboard() {
  for (const id of [...state.charts.keys()]) destroyChart(id);
  state.dashboard = null;
  state.definition = null;
  $("grid").innerHTML = "";
  $("dashboard-title").textContent = "Choose a dashboard";
  $("dashboard-description").textContent = "";
  $("filters").hidden = true;
  $("dash-actions").hidden = true;
  $("welcome").hidden = true;
  delete document.body.dataset.dashboard;
  delete document.body.dataset.rendered;
}

export async function openDashboard(id) {
  closeStream();
  clearError();
  const grid = $("grid");
  grid.classList.add("loading");
  grid.setAttribute("aria-busy", "true");
  if (!grid.children.length) grid.replaceChildren(h("div", { class: "skeleton" }), h("div", { class: "skeleton" }), h("div", { class: "skeleton" }));
  const session = state.session;
  try {
    const path = `/v1/dashboards/${encodeURIComponent(id)}`;
    const filters = filterQuery();
    const [result, definition] = await Promise.all([api(`${path}/render${filters ? `${filters}&` : "?"}allow_stale=true`), api(path), state.ready]);
    if (session !== state.session || location.hash !== `#/d/${encodeURIComponent(id)}`) return; // gone elsewhere
    for (const chartId of [...state.charts.keys()]) destroyChart(chartId);
    state.dashboard = result;
    state.definition = definition;
    $("welcome").hidden = true;
    $("dashboard-title").textContent = result.name;
    $("dashboard-description").textContent = definition.description || "";
    $("filters").hidden = false;
    $("dash-actions").hidden = false;
    fillFilterForm(effectiveFilters());
    const { repeated } = repeatedErrors(result.widgets);
    grid.replaceChildren();
    for (const widget of result.widgets) {
      const element = widgetElement(widget);
      grid.append(element);
      drawWidget(widget, element, repeated);
    }
    if (!result.widgets.length) {
      grid.append(h("div", { class: "empty-dashboard card" }, h("p", {}, "This dashboard has no widgets yet."),
        h("a", { class: "button", href: `#/insight?dashboard=${encodeURIComponent(id)}` }, "Build its first insight")));
    }
    sayRepeatedErrors();
    markActive();
    document.body.dataset.dashboard = id;
    document.body.dataset.rendered = String(Date.now());
    markPaint(result.widgets);
    revalidate(id, result.widgets);
    openStream(id);
  } catch (error) {
    if (session !== state.session || error.stale) return;
    clearDashboard();
    showError(error);
    if (error.status === 401) document.dispatchEvent(new Event("ae-sign-out"));
  } finally {
    grid.classList.remove("loading");
    grid.removeAttribute("aria-busy");
  }
}

function applyWidget(widget) {
  const element = document.querySelector(`[data-widget-id="${CSS.escape(widget.id)}"]`);
  if (!element || !state.dashboard) return;
  const index = state.dashboard.widgets.findIndex((w) => w.id === widget.id);
  if (index >= 0) state.dashboard.widgets[index] = widget;
  const was = element.dataset.state;
  // An error that others share says "see above", whichever way it came (its own answer or the live
  // stream), and the message above counts it.
  drawWidget(widget, element, repeatedErrors(state.dashboard.widgets).repeated);
  if (widget.error) sayRepeatedErrors();
  markPaint(state.dashboard.widgets); // whichever comes first: its own answer or the live stream's
  if (was === "pending") return; // its first answer: no flash
  element.classList.add("flash");
  setTimeout(() => element.classList.remove("flash"), 900);
}

// ---------------------------------------------------------------- live updates (SSE)
function setLive(name, text) { $("live").dataset.state = name; $("live-text").textContent = text; }
export function closeStream() {
  if (state.source) { state.source.close(); state.source = null; }
  if (state.retry) { clearTimeout(state.retry); state.retry = null; }
  setLive("off", "offline");
}
async function openStream(id) {
  try {
    const session = state.session;
    const { token } = await api(`/v1/dashboards/${encodeURIComponent(id)}/stream-token`, { method: "POST" });
    if (session !== state.session || !state.dashboard || state.dashboard.dashboard_id !== id) return;
    const query = filterQuery();
    const source = new EventSource(`/v1/dashboards/${encodeURIComponent(id)}/stream${query ? `${query}&` : "?"}token=${encodeURIComponent(token)}`);
    state.source = source;
    source.onopen = () => setLive("on", "live");
    source.addEventListener("snapshot", (event) => {
      for (const widget of JSON.parse(event.data).widgets) {
        const known = state.dashboard && state.dashboard.widgets.find((w) => w.id === widget.id);
        if (!known || known.stale || known.pending || JSON.stringify(known.data) !== JSON.stringify(widget.data)) applyWidget(widget);
      }
    });
    source.addEventListener("widget", (event) => {
      state.updates += 1;
      applyWidget(JSON.parse(event.data));
      setLive("on", `live · updated ${new Date().toLocaleTimeString()}`);
      document.body.dataset.updates = String(state.updates);
    });
    source.addEventListener("deleted", () => { closeStream(); location.hash = "#/"; });
    source.onerror = () => {
      setLive("retrying", "reconnecting…");
      if (source.readyState === EventSource.CLOSED) state.retry = setTimeout(() => { if (state.source === source) openStream(id); }, 3000);
    };
  } catch (error) {
    if (!error.stale) setLive("retrying", "live updates unavailable");
  }
}

// ---------------------------------------------------------------- dashboard actions
export async function createDashboard(spec) {
  const made = await api("/v1/dashboards", { method: "POST", json: spec });
  await showDashboards();
  location.hash = `#/d/${encodeURIComponent(made.id)}`;
  return made;
}
$("new-dashboard").addEventListener("click", () => dialog("New dashboard", [
  field("Name", "name", "", { required: true, maxlength: 200 }),
  field("Description", "description", "", { type: "textarea", maxlength: 2000 })],
(v) => createDashboard({ name: v.name, description: v.description || null }), "Create"));
$("rename-dashboard").addEventListener("click", async () => {
  closeMenus();
  const d = state.definition;
  const done = await dialog("Rename and describe", [field("Name", "name", d.name, { required: true, maxlength: 200 }),
    field("Description", "description", d.description || "", { type: "textarea", maxlength: 2000 })],
  (v) => api(`/v1/dashboards/${d.id}`, { method: "PATCH", json: { name: v.name, description: v.description || null } }));
  if (done) { await showDashboards(); await openDashboard(d.id); }
});
$("duplicate-dashboard").addEventListener("click", async () => {
  closeMenus();
  const d = state.definition;
  await dialog("Duplicate dashboard", [field("Name of the copy", "name", `${d.name} (copy)`, { required: true, maxlength: 200 })],
    (v) => createDashboard({ name: v.name, description: d.description, filters: d.filters,
      widgets: d.widgets.map((w) => {
        const copy = { title: w.title, viz: w.viz, layout: w.layout, options: w.options || {} };
        if (w.metric_id) Object.assign(copy, { metric_id: w.metric_id, metric_version: w.metric_version || undefined, dimensions: w.dimensions });
        else copy.query = w.query;
        return copy;
      }) }), "Duplicate");
});
$("delete-dashboard").addEventListener("click", async () => {
  closeMenus();
  const d = state.definition;
  const done = await dialog(`Delete “${d.name}”?`, [h("p", {}, "The dashboard and its widgets go; metrics, cohorts and exports stay.")],
    () => api(`/v1/dashboards/${d.id}`, { method: "DELETE" }).then(() => true), "Delete");
  if (done) { closeStream(); clearDashboard(); toast("Dashboard deleted."); location.hash = "#/"; await showDashboards(); }
});
$("export-dashboard").addEventListener("click", async () => {
  closeMenus();
  try { await exportSource({ type: "dashboard", dashboard_id: state.definition.id, filters: effectiveFilters() }, "xlsx"); }
  catch (error) { showError(error); }
});
$("add-widget").addEventListener("click", () => {
  location.hash = `#/insight?dashboard=${encodeURIComponent(state.dashboard.dashboard_id)}`;
});
function closeMenus() { for (const d of document.querySelectorAll("details.menu[open]")) d.open = false; }
document.addEventListener("click", (event) => {
  for (const d of document.querySelectorAll("details.menu[open]")) if (!d.contains(event.target)) d.open = false;
});

// ---------------------------------------------------------------- first dashboard for a new tenant
export async function showWelcome() {
  clearDashboard();
  closeDrawer();
  const names = await loadNames();
  const top = names.events.slice(0, 3).map((e) => e.name);
  const box = $("welcome");
  $("dashboard-title").textContent = "Welcome";
  const starter = h("button", { type: "button", id: "starter-dashboard", disabled: !top.length }, "Create my first dashboard");
  box.replaceChildren(
    h("h2", { class: "welcome-title" }, "Your first dashboard, in one click"),
    top.length
      ? h("p", {}, `From your own events: ${top.join(", ")}. It starts with a daily trend of them, the people active (against the previous period), a funnel through them and weekly retention; change anything afterwards.`)
      : h("p", {}, "No events yet. Send one (POST /v1/events with an ingest key), then come back; or start with an empty dashboard."),
    h("div", { class: "welcome-buttons" }, starter,
      h("button", { type: "button", class: "ghost", onclick: () => $("new-dashboard").click() }, "Start empty"),
      h("a", { class: "button ghost-link", href: "#/insight" }, "Explore an insight first")));
  starter.addEventListener("click", async () => {
    starter.disabled = true;
    try {
      const widgets = [
        { title: "People active", viz: "big_number", query: { kind: "trends", series: [{ event: null, math: "unique_users" }], compare: true, interval: "day", date_range: { date_from: "-30d" } }, layout: { x: 8, y: 0, w: 4, h: 4 } },
        { title: `${top[0]} per day`, viz: "line", query: { kind: "trends", series: top.map((e) => ({ event: e })), interval: "day", date_range: { date_from: "-30d" } }, layout: { x: 0, y: 0, w: 8, h: 4 } },
      ];
      if (top.length >= 2) widgets.push({ title: `${top.join(" → ")}`, viz: "funnel", query: { kind: "funnels", steps: top.map((e) => ({ event: e })), date_range: { date_from: "-30d" } }, layout: { x: 0, y: 4, w: 6, h: 4 } });
      widgets.push({ title: "Weekly retention", viz: "retention_table", query: { kind: "retention", start_event: { event: top[0] }, return_event: { event: null }, period: "week", periods: 6, date_range: { date_from: "-42d" } }, layout: { x: top.length >= 2 ? 6 : 0, y: 4, w: 6, h: 4 } });
      await createDashboard({ name: "My first dashboard", description: "Made from your most frequent events; edit any widget from its ⋯ menu.", filters: { date_from: "-30d" }, widgets });
    } catch (error) { showError(error); starter.disabled = false; }
  });
  box.hidden = false;
}

export { drawTable };
