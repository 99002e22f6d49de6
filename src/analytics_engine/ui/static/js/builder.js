// The insight builder: trends, funnels, retention and engagement from the tenant's own event names and
// property keys (searchable lists), with filters, breakdowns, math, compare, formulas, date range and
// interval; the chart redraws as the query changes. Save as a registry metric, add to a dashboard, or
// save back into the widget being edited.
import { $, ApiError, api, dialog, field, h, loadNames, selectField, showError, state, toast } from "./api.js";
import { VIZ_OF, draw } from "./charts.js";

// the widget's viz for a display: a table keeps the viz of its kind
const vizFor = (display, kind) => (display === "table" ? { funnels: "funnel", retention: "retention_table", paths: "sankey" }[kind] || "line" : VIZ_OF[display]);
import { drill, exportSource } from "./drill.js";

const KINDS = [["trends", "Trends"], ["funnels", "Funnels"], ["retention", "Retention"], ["engagement", "Engagement"], ["paths", "Paths"]];
const MATHS = [["total", "Total count"], ["unique_users", "Unique users"], ["per_user_avg", "Per user (avg)"], ["sum", "Sum of"],
  ["avg", "Average of"], ["min", "Min of"], ["max", "Max of"], ["median", "Median of"], ["p90", "90th pct of"], ["p99", "99th pct of"]];
const PROPERTY_MATHS = new Set(["sum", "avg", "min", "max", "median", "p90", "p95", "p99"]);
const DISPLAYS = {
  trends: [["line", "Line"], ["area", "Area"], ["bar", "Bar"], ["stacked", "Stacked bar"], ["number", "Big number"], ["table", "Table"]],
  engagement: [["line", "Line"], ["area", "Area"], ["bar", "Bar"], ["stacked", "Stacked bar"], ["number", "Big number"], ["table", "Table"]],
  funnels: [["funnel", "Funnel bars"], ["table", "Table"]],
  retention: [["retention", "Retention heatmap"], ["table", "Table"]],
  paths: [["sankey", "Flow (Sankey)"], ["table", "Table"]],
};
const RANGES = [["-24h", "Last 24 hours"], ["-7d", "Last 7 days"], ["-30d", "Last 30 days"], ["-90d", "Last 90 days"], ["-180d", "Last 180 days"], ["mtd", "Month to date"], ["ytd", "Year to date"]];

const b = { kind: "trends", display: "line", query: null, result: null, chart: null, timer: null, seq: 0, target: null, title: "" };
window.aeBuilder = b; // for tests and the bench

function defaults(kind, names) {
  const top = ((names && names.events) || []).map((e) => e.name);
  if (kind === "funnels") return { kind, steps: [{ event: top[0] || "" }, { event: top[1] || top[0] || "" }], date_range: { date_from: "-30d" }, conversion_window: { value: 14, unit: "day" } };
  if (kind === "retention") return { kind, start_event: { event: top[0] || null }, return_event: { event: null }, period: "week", periods: 8, date_range: { date_from: "-90d" } };
  if (kind === "paths") return { kind, start_event: top[0] || null, end_event: null, steps: 4, nodes_per_step: 6, date_range: { date_from: "-30d" } };
  if (kind === "engagement") return { kind, measure: "active_users", event: null, interval: "day", date_range: { date_from: "-30d" } };
  return { kind: "trends", series: [{ event: top[0] || null, math: "total" }], interval: "day", date_range: { date_from: "-30d" } };
}

// ---------------------------------------------------------------- form pieces
const uid = (() => { let n = 0; return (p) => `${p}-${++n}`; })();
function labelled(text, control) {
  const id = control.id || uid("b");
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, text), control);
}
function select(options, value, attrs = {}) {
  return h("select", attrs, options.map(([v, t]) => h("option", { value: v, selected: String(v) === String(value ?? "") }, t)));
}
function eventInput(value, attrs = {}) {
  return h("input", { list: "event-names", value: value || "", placeholder: "any event", autocomplete: "off", ...attrs });
}
function section(title, ...children) {
  return h("fieldset", { class: "b-section" }, h("legend", {}, title), ...children);
}

function filterRows(q) {
  const box = h("div", { class: "b-filters" });
  const add = (f = {}) => {
    const n = box.children.length + 1;
    const row = h("div", { class: "prop b-filter" },
      h("input", { class: "p-key", list: "property-keys", value: f.key || "", placeholder: "property", "aria-label": `Filter ${n} property` }),
      select([["eq", "="], ["neq", "≠"], ["contains", "contains"], ["gt", ">"], ["lt", "<"], ["is_set", "is set"], ["is_not_set", "is not set"]], f.operator || "eq", { class: "p-op", "aria-label": `Filter ${n} operator` }),
      h("input", { class: "p-value", value: f.value ?? "", placeholder: "value", "aria-label": `Filter ${n} value` }),
      h("button", { type: "button", class: "ghost small", "aria-label": `Remove filter ${n}`, onclick: () => { row.remove(); changed(); } }, "✕"));
    box.append(row);
    return row;
  };
  for (const f of (q.filters || []).filter((f) => (f.type || "property") === "property")) add(f);
  return h("div", {}, box, h("button", { type: "button", class: "ghost small", id: "b-add-filter", onclick: () => add().querySelector("input").focus() }, "+ Filter"));
}
function readFilterRows(form) {
  const out = [];
  for (const row of form.querySelectorAll(".b-filter")) {
    const key = row.querySelector(".p-key").value.trim();
    if (!key) continue;
    const operator = row.querySelector(".p-op").value;
    const raw = row.querySelector(".p-value").value;
    const f = { type: "property", key, operator };
    if (!operator.startsWith("is_")) f.value = ["gt", "lt"].includes(operator) && raw !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
    out.push(f);
  }
  return out;
}

function rangeControls(q, withInterval) {
  const from = (q.date_range && q.date_range.date_from) || "-30d";
  const known = RANGES.some(([v]) => v === from);
  const controls = [labelled("Date range", select(known ? RANGES : [[from, from], ...RANGES], from, { id: "b-range" }))];
  if (withInterval) controls.push(labelled("Interval", select([["hour", "Hour"], ["day", "Day"], ["week", "Week"], ["month", "Month"]], q.interval || "day", { id: "b-interval" })));
  const cohorts = [["", "Everyone"], ...state.cohorts.map((c) => [c.id, c.name])];
  controls.push(labelled("Cohort", select(cohorts, q.cohort_id || "", { id: "b-cohort" })));
  controls.push(labelled("Time zone", h("input", { id: "b-tz", list: "tz-list", value: q.timezone || "", placeholder: "tenant default", size: 12 })));
  return h("div", { class: "row" }, controls);
}
function breakdownControl(q) {
  const first = (q.breakdown || [])[0];
  const value = typeof first === "string" ? first : (first && first.property) || "";
  return labelled("Breakdown by", h("input", { id: "b-breakdown", list: "property-keys", value, placeholder: "none", autocomplete: "off" }));
}

function seriesRow(s, i) {
  const letter = String.fromCharCode(65 + i);
  const math = select(MATHS, s.math || "total", { class: "s-math", "aria-label": `Series ${letter} math` });
  const prop = h("input", { class: "s-prop", list: "property-keys", value: s.math_property || "", placeholder: "numeric property", "aria-label": `Series ${letter} property`, hidden: !PROPERTY_MATHS.has(s.math) });
  math.addEventListener("change", () => { prop.hidden = !PROPERTY_MATHS.has(math.value); });
  const row = h("div", { class: "b-series" }, h("span", { class: "letter", "aria-hidden": "true" }, letter),
    eventInput(s.event, { class: "s-event", "aria-label": `Series ${letter} event` }), math, prop,
    h("button", { type: "button", class: "ghost small", "aria-label": `Remove series ${letter}`, onclick: () => { if (document.querySelectorAll(".b-series").length > 1) { row.remove(); changed(); } } }, "✕"));
  return row;
}
// Formulas across series (insights/formula.py): series letters, numbers, + - * / and parentheses.
const FORMULA_EXAMPLES = [
  ["A / B * 100", "A as a percentage of B (conversion: purchases per signup)"],
  ["A + B", "the two series added up"],
  ["(A - B) / B * 100", "how far A is above B, in percent"],
  ["A / 1000", "A in thousands"],
  ["-A", "A upside down (a loss drawn below zero)"],
];
function formulaControl(q) {
  const input = h("input", { id: "b-formula", value: q.formula || "", placeholder: "A / B * 100", autocomplete: "off",
    spellcheck: "false", "aria-describedby": "b-formula-hint b-formula-error" });
  const examples = FORMULA_EXAMPLES.map(([formula, text]) => h("li", {},
    h("button", { type: "button", class: "link", dataset: { formula }, "aria-label": `Use ${formula}: ${text}`,
      onclick: () => { input.value = formula; showFormulaError(null); run(); } }, h("code", {}, formula)), ` — ${text}`));
  return h("div", { class: "field b-formula" },
    h("label", { for: "b-formula" }, "Formula (optional)"), input,
    h("p", { id: "b-formula-hint", class: "hint" }),
    h("p", { id: "b-formula-error", class: "error field-error", hidden: true }),
    h("details", { class: "b-help", id: "b-formula-help" }, h("summary", {}, "What can a formula contain?"),
      h("p", {}, "Series letters (A is the first series, B the second…), numbers, ", h("code", {}, "+ - * /"),
        " and parentheses; nothing else. Dividing by zero gives 0, a missing value counts as 0. With a formula the chart shows the formula's line only (per breakdown value), on the same buckets."),
      h("ul", {}, examples)));
}
// The letters this query's series go by, under the formula field.
function formulaHint() {
  const hint = $("b-formula-hint");
  if (!hint) return;
  const n = document.querySelectorAll("#b-series .b-series").length;
  const letters = Array.from({ length: n }, (_, i) => String.fromCharCode(65 + i));
  const text = `Series here: ${letters.join(", ")}. Letters, numbers, + - * / and ( ).`;
  if (hint.textContent !== text) hint.textContent = text; // (a MutationObserver calls this: no loop)
}
// The API's reason for a refused formula, under the field (null: none).
function showFormulaError(error) {
  const box = $("b-formula-error");
  const input = $("b-formula");
  if (!box || !input) return false;
  const items = error && error.details && Array.isArray(error.details.errors) ? error.details.errors : [];
  const about = items.filter((e) => [].concat(e.loc || []).includes("formula") || /^formula\b/.test(e.message || ""));
  if (!about.length && !(error && /\bformula\b/.test(error.message) && !items.length)) {
    box.hidden = true; box.textContent = ""; input.removeAttribute("aria-invalid");
    return false;
  }
  box.textContent = about.length ? about.map((e) => e.message).join("; ") : error.message;
  box.hidden = false;
  input.setAttribute("aria-invalid", "true");
  return true;
}

function stepRow(s, i) {
  const row = h("div", { class: "b-step" }, h("span", { class: "letter", "aria-hidden": "true" }, String(i + 1)),
    eventInput(s.event, { class: "st-event", placeholder: "event", "aria-label": `Step ${i + 1} event`, required: true }),
    h("button", { type: "button", class: "ghost small", "aria-label": `Remove step ${i + 1}`, onclick: () => { if (document.querySelectorAll(".b-step").length > 2) { row.remove(); changed(); } } }, "✕"));
  return row;
}

function formFor(q) {
  const parts = [];
  if (q.kind === "trends") {
    const list = h("div", { id: "b-series" }, (q.series || []).map(seriesRow));
    parts.push(section("Series", list, h("button", { type: "button", class: "ghost small", id: "b-add-series", onclick: () => {
      list.append(seriesRow({ math: "total" }, list.children.length)); list.lastChild.querySelector("input").focus();
    } }, "+ Series"), formulaControl(q)));
    parts.push(section("Breakdown and compare", breakdownControl(q),
      h("label", { class: "check" }, h("input", { type: "checkbox", id: "b-compare", checked: Boolean(q.compare) }), " Compare with the previous period")));
    parts.push(section("Range", rangeControls(q, true)));
  } else if (q.kind === "funnels") {
    const list = h("div", { id: "b-steps" }, (q.steps || []).map(stepRow));
    parts.push(section("Steps", list, h("button", { type: "button", class: "ghost small", id: "b-add-step", onclick: () => {
      list.append(stepRow({}, list.children.length)); list.lastChild.querySelector("input").focus();
    } }, "+ Step")));
    const w = q.conversion_window || { value: 14, unit: "day" };
    parts.push(section("Conversion", h("div", { class: "row" },
      labelled("Window", h("input", { id: "b-window", type: "number", min: 1, value: w.value, size: 4 })),
      labelled("Unit", select([["hour", "hours"], ["day", "days"], ["week", "weeks"]], w.unit, { id: "b-window-unit" })),
      labelled("Order", select([["ordered", "In order"], ["strict", "Strict order"], ["unordered", "Any order"]], q.order || "ordered", { id: "b-order" }))),
    breakdownControl(q)));
    parts.push(section("Range", rangeControls(q, false)));
  } else if (q.kind === "retention") {
    parts.push(section("Who and when", h("div", { class: "row" },
      labelled("Start event", eventInput(q.start_event && q.start_event.event, { id: "b-start" })),
      labelled("Return event", eventInput(q.return_event && q.return_event.event, { id: "b-return" }))),
    h("div", { class: "row" },
      labelled("Period", select([["day", "Day"], ["week", "Week"], ["month", "Month"]], q.period || "week", { id: "b-period" })),
      labelled("Periods", h("input", { id: "b-periods", type: "number", min: 1, max: 36, value: q.periods || 8, size: 4 }))), breakdownControl(q)));
    parts.push(section("Range", rangeControls(q, false)));
  } else if (q.kind === "paths") {
    const clean = (q.path_cleaning || [])[0] || {};
    parts.push(section("Paths", h("div", { class: "row" },
      labelled("Start at", eventInput(q.start_event, { id: "b-path-start", placeholder: "first event" })),
      labelled("End at", eventInput(q.end_event, { id: "b-path-end", placeholder: "no end event" }))),
    h("div", { class: "row" },
      labelled("Steps", h("input", { id: "b-path-steps", type: "number", min: 2, max: 20, value: q.steps || 4, size: 4 })),
      labelled("Names per step", h("input", { id: "b-path-nodes", type: "number", min: 1, max: 50, value: q.nodes_per_step || 6, size: 4 }))),
    labelled("Leave out events (comma-separated)", h("input", { id: "b-path-exclude", list: "event-names", value: (q.exclude_events || []).join(", "), placeholder: "heartbeat, $autocapture", autocomplete: "off" })),
    h("div", { class: "row" },
      labelled("Clean names: pattern", h("input", { id: "b-path-regex", value: clean.regex || "", placeholder: "^view_product_\\d+$", autocomplete: "off", spellcheck: "false" })),
      labelled("… becomes", h("input", { id: "b-path-alias", value: clean.alias || "", placeholder: "view_product", autocomplete: "off" })))));
    parts.push(section("Range", rangeControls(q, false)));
  } else {
    parts.push(section("Activity", h("div", { class: "row" },
      labelled("Measure", select([["active_users", "Active users (DAU/WAU/MAU)"], ["days_active", "Days active (histogram)"], ["lifecycle", "Lifecycle"]], q.measure, { id: "b-measure" })),
      labelled("Event", eventInput(q.event, { id: "b-event" })))));
    parts.push(section("Range", rangeControls(q, true)));
  }
  parts.push(section("Filters", filterRows(q)));
  return parts;
}

function readQuery() {
  const form = $("b-form");
  const value = (id) => { const el = $(id); return el ? el.value.trim() : ""; };
  const q = { kind: b.kind, date_range: { date_from: value("b-range") || "-30d" }, filters: readFilterRows(form) };
  if (value("b-cohort")) q.cohort_id = value("b-cohort");
  if (value("b-tz")) q.timezone = value("b-tz");
  const breakdown = value("b-breakdown");
  if (b.kind === "trends") {
    q.series = [...form.querySelectorAll(".b-series")].map((row) => {
      const s = { event: row.querySelector(".s-event").value.trim() || null, math: row.querySelector(".s-math").value };
      if (PROPERTY_MATHS.has(s.math)) s.math_property = row.querySelector(".s-prop").value.trim();
      return s;
    });
    q.interval = value("b-interval") || "day";
    if (value("b-formula")) q.formula = value("b-formula");
    if ($("b-compare").checked) q.compare = true;
    if (breakdown) q.breakdown = [breakdown];
  } else if (b.kind === "funnels") {
    q.steps = [...form.querySelectorAll(".b-step")].map((row) => ({ event: row.querySelector(".st-event").value.trim() }));
    q.conversion_window = { value: Number(value("b-window") || 14), unit: value("b-window-unit") || "day" };
    q.order = value("b-order") || "ordered";
    if (breakdown) q.breakdown = [breakdown];
  } else if (b.kind === "retention") {
    q.start_event = { event: value("b-start") || null };
    q.return_event = { event: value("b-return") || null };
    q.period = value("b-period") || "week";
    q.periods = Number(value("b-periods") || 8);
    if (breakdown) q.breakdown = [breakdown];
  } else if (b.kind === "paths") {
    q.start_event = value("b-path-start") || null;
    q.end_event = value("b-path-end") || null;
    q.steps = Number(value("b-path-steps") || 4);
    q.nodes_per_step = Number(value("b-path-nodes") || 6);
    const exclude = value("b-path-exclude").split(",").map((e) => e.trim()).filter(Boolean);
    if (exclude.length) q.exclude_events = exclude;
    if (value("b-path-regex")) q.path_cleaning = [{ regex: value("b-path-regex"), alias: $("b-path-alias").value }];
  } else {
    q.measure = value("b-measure") || "active_users";
    q.event = value("b-event") || null;
    q.interval = value("b-interval") || "day";
    if (q.interval === "hour") q.interval = "day";
  }
  return q;
}

// ---------------------------------------------------------------- run and draw
function changed() {
  clearTimeout(b.timer);
  b.timer = setTimeout(run, 250);
}
export async function run() {
  clearTimeout(b.timer);
  const started = performance.now();
  const seq = ++b.seq;
  const body = $("b-chart");
  const status = $("b-status");
  let q;
  try { q = readQuery(); } catch (error) { status.textContent = String(error.message); return; }
  b.query = q;
  status.textContent = "Computing…";
  status.className = "muted";
  body.setAttribute("aria-busy", "true");
  try {
    const result = await api(`/v1/insights/${b.kind}`, { method: "POST", json: q });
    if (seq !== b.seq) return;
    b.result = result;
    if (b.chart) { b.chart.destroy(); b.chart = null; }
    b.chart = draw({ title: b.title || "Insight", data: result }, body, { display: b.display,
      onDrill: (hit) => drill(b.title || defaultTitle(q), q, hit, result) });
    showFormulaError(null);
    const ms = performance.now() - started;
    status.textContent = `${result.served_by} · ${result.cached ? "cached · " : ""}${Math.round(ms)} ms${result.approximate ? " · approximate" : ""}`;
    document.body.dataset.builderMs = String(Math.round(ms));
  } catch (error) {
    if (seq !== b.seq || error.stale) return;
    if (b.chart) { b.chart.destroy(); b.chart = null; }
    body.replaceChildren();
    const inline = error instanceof ApiError && showFormulaError(error);
    status.textContent = inline ? "Not drawn: the formula was refused (the reason is under the formula field)."
      : error instanceof ApiError ? error.full : String(error.message || error);
    status.className = "error";
    status.setAttribute("role", "alert");
  } finally {
    if (seq === b.seq) {
      body.removeAttribute("aria-busy");
      document.body.dataset.builderRuns = String(Number(document.body.dataset.builderRuns || 0) + 1);
    }
  }
}

function renderForm(q) {
  b.kind = q.kind;
  const displays = DISPLAYS[b.kind];
  if (!displays.some(([v]) => v === b.display)) b.display = displays[0][0];
  for (const button of document.querySelectorAll("#b-kinds button")) {
    button.setAttribute("aria-pressed", String(button.dataset.kind === b.kind));
    button.classList.toggle("ghost", button.dataset.kind !== b.kind);
  }
  $("b-form").replaceChildren(...formFor(q));
  formulaHint();
  $("b-display").replaceChildren(...displays.map(([v, t]) => h("option", { value: v, selected: v === b.display }, t)));
}

// ---------------------------------------------------------------- saving
async function saveMetric() {
  const q = b.query || readQuery();
  const made = await dialog("Save as a metric", [field("Name", "name", b.title || "", { required: true, maxlength: 200 }),
    field("Unit (optional)", "unit", "", { maxlength: 40, placeholder: "users, EUR, %" }),
    field("Description (optional)", "description", "", { type: "textarea", maxlength: 2000 })],
  (v) => api("/v1/metrics", { method: "POST", json: { name: v.name, query: q, unit: v.unit || null, description: v.description || null } }));
  if (made) {
    state.metrics.set(made.id, made);
    b.metricId = made.id;
    toast(`Metric “${made.name}” saved to the registry.`);
  }
  return made;
}
async function addToDashboard() {
  const q = b.query || readQuery();
  const dashboards = await api("/v1/dashboards");
  const options = [...dashboards.map((d) => [d.id, d.name]), ["__new", "A new dashboard…"]];
  const fields = [field("Title", "title", b.title || defaultTitle(q), { required: true, maxlength: 200 }),
    selectField("Dashboard", "dashboard", options, b.target && b.target.dashboard)];
  if (b.metricId) fields.push(h("label", { class: "check" }, h("input", { type: "checkbox", name: "metric", checked: true }), " Use the saved metric (changes to it show here)"));
  const added = await dialog("Add to a dashboard", fields, async (v) => {
    let id = v.dashboard;
    if (id === "__new") id = (await api("/v1/dashboards", { method: "POST", json: { name: v.title } })).id;
    const current = await api(`/v1/dashboards/${id}`);
    const y = Math.max(0, ...current.widgets.map((w) => w.layout.y + w.layout.h));
    const widget = { title: v.title, viz: vizFor(b.display, b.kind), layout: { x: 0, y, w: b.display === "number" ? 4 : 6, h: 4 }, options: { display: b.display } };
    if (v.metric && b.metricId) widget.metric_id = b.metricId; else widget.query = q;
    await api(`/v1/dashboards/${id}/widgets`, { method: "POST", json: widget });
    return id;
  }, "Add");
  if (added) { toast("Added to the dashboard."); location.hash = `#/d/${encodeURIComponent(added)}`; }
}
async function saveWidget() {
  const q = b.query || readQuery();
  const { dashboard, widget } = b.target;
  const title = $("b-title").value.trim() || defaultTitle(q);
  try {
    await api(`/v1/dashboards/${dashboard}/widgets/${widget}`, { method: "PATCH",
      json: { title, viz: vizFor(b.display, b.kind), query: q, metric_id: null, metric_version: null, dimensions: [], options: { display: b.display } } });
    toast("Widget saved.");
    location.hash = `#/d/${encodeURIComponent(dashboard)}`;
  } catch (error) { showError(error); }
}
function defaultTitle(q) {
  if (q.kind === "trends") return q.series.map((s) => s.event || "All events").join(", ");
  if (q.kind === "funnels") return q.steps.map((s) => s.event).join(" → ");
  if (q.kind === "retention") return `Retention after ${q.start_event.event || "any event"}`;
  if (q.kind === "paths") return `Paths ${q.start_event ? `from ${q.start_event}` : ""}${q.end_event ? ` to ${q.end_event}` : ""}`.trim();
  return `Engagement: ${q.measure.replace("_", " ")}`;
}

// ---------------------------------------------------------------- the page
export async function showBuilder(params) {
  const view = $("view-insight");
  const names = await loadNames();
  b.target = params.get("dashboard") ? { dashboard: params.get("dashboard"), widget: params.get("widget") } : null;
  b.metricId = null;
  b.title = "";
  let q = defaults(params.get("kind") || "trends", names);
  if (b.target && b.target.widget) {
    try {
      const d = await api(`/v1/dashboards/${encodeURIComponent(b.target.dashboard)}`);
      const w = d.widgets.find((x) => x.id === b.target.widget);
      if (w) {
        const metric = w.metric_id ? state.metrics.get(w.metric_id) : null;
        q = JSON.parse(JSON.stringify(w.query || (metric && metric.definition.query) || q));
        if (!w.query && w.dimensions && w.dimensions.length) q.breakdown = w.dimensions;
        b.title = w.title;
        b.display = (w.options && w.options.display) || { line: "line", bar: "bar", big_number: "number", funnel: "funnel", retention_table: "retention", sankey: "sankey" }[w.viz];
      }
    } catch (error) { showError(error); }
  } else b.display = "line";
  view.replaceChildren(
    h("div", { class: "dash-head" }, h("div", {}, h("h1", {}, b.target && b.target.widget ? "Edit widget" : "New insight"),
      h("p", { class: "muted" }, "Pick events and properties from your own data. The chart follows every change; click a point, a step, a cell or a node for the people behind it."))),
    h("div", { class: "builder" },
      h("form", { class: "card b-panel", id: "b-form-wrap", onsubmit: (e) => { e.preventDefault(); run(); } },
        h("div", { class: "segmented", id: "b-kinds", role: "group", "aria-label": "Kind of insight" },
          KINDS.map(([k, t]) => h("button", { type: "button", class: "small", dataset: { kind: k }, onclick: () => { renderForm(defaults(k, state.names)); run(); } }, t))),
        h("div", { id: "b-form" }),
        h("button", { type: "submit", id: "b-run" }, "Run")),
      h("section", { class: "card b-result", "aria-label": "Result" },
        h("div", { class: "b-toolbar" },
          labelled("Title", h("input", { id: "b-title", value: b.title, placeholder: "Untitled insight", oninput: (e) => { b.title = e.target.value; } })),
          labelled("Chart", h("select", { id: "b-display", onchange: (e) => { b.display = e.target.value; if (b.result) redraw(); } }))),
        h("p", { id: "b-status", class: "muted", "aria-live": "polite" }),
        h("div", { id: "b-chart", class: "b-chart" }),
        h("div", { class: "b-actions" },
          b.target && b.target.widget ? h("button", { type: "button", id: "b-save-widget", onclick: saveWidget }, "Save widget") : null,
          h("button", { type: "button", id: "b-save-metric", class: b.target && b.target.widget ? "ghost" : "", onclick: () => saveMetric().catch(showError) }, "Save as metric"),
          h("button", { type: "button", id: "b-add-dashboard", class: "ghost", onclick: () => addToDashboard().catch(showError) }, "Add to dashboard"),
          h("button", { type: "button", id: "b-export", class: "ghost", onclick: () => exportSource({ type: "insight", query: b.query || readQuery() }, "csv").catch(showError) }, "Export CSV")))));
  renderForm(q);
  $("b-form").addEventListener("change", changed);
  new MutationObserver(formulaHint).observe($("b-form"), { childList: true, subtree: true });
  $("b-form").addEventListener("input", (e) => { if (e.target.matches("input[type=number], #b-formula")) changed(); });
  await run();
}
function redraw() {
  if (b.chart) { b.chart.destroy(); b.chart = null; }
  const q = b.query;
  b.chart = draw({ title: b.title || "Insight", data: b.result }, $("b-chart"), { display: b.display,
    onDrill: (hit) => drill(b.title || defaultTitle(q), q, hit, b.result) });
}
