// Drill down: from a point, a bar, a funnel step or a retention cell to the people behind it (a side panel), from a
// person to their properties and recent events; a drill-down's people saved as a static cohort; a
// widget's data exported to a file. Only the public API: a trend point's people come from
// POST /v1/insights/funnels/people (a one-event funnel over that bucket, "converted" at step 1); a
// retention cell's from POST /v1/insights/retention/people.
import { $, ApiError, api, dialog, field, fmt, h, state, toast } from "./api.js";

export function openDrawer(title, ...content) {
  $("drawer-title").textContent = title;
  $("drawer-body").replaceChildren(...content);
  $("drawer").hidden = false;
  $("drawer-close").focus();
}
export function closeDrawer() {
  $("drawer").hidden = true;
  $("drawer-body").replaceChildren();
}
$("drawer-close").addEventListener("click", closeDrawer);
document.addEventListener("keydown", (event) => { if (event.key === "Escape" && !$("drawer").hidden) closeDrawer(); });

function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, error instanceof ApiError ? error.full : String(error.message || error));
}

// The dashboard's filters (saved, then this visit's) folded into an insight query.
export function withFilters(query, filters) {
  const q = JSON.parse(JSON.stringify(query));
  if (!filters) return q;
  if (filters.date_from || filters.date_to) q.date_range = { date_from: filters.date_from || null, date_to: filters.date_to || null };
  if (filters.timezone) q.timezone = filters.timezone;
  if (filters.cohort_id) q.cohort_id = filters.cohort_id;
  if (filters.interval && "interval" in q && q.kind === "trends") q.interval = filters.interval;
  if (filters.properties && filters.properties.length) {
    q.filters = [...(q.filters || []), ...filters.properties.map((p) => ({ type: "property", ...p }))];
  }
  return q;
}

function addDays(date, days) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
function bucketRange(bucket, interval) {
  if (bucket.includes("T") || interval === "hour") {
    const start = new Date(Date.parse(bucket));
    const end = new Date(start.getTime() + 3600e3 - 1);
    return { date_from: start.toISOString(), date_to: end.toISOString() };
  }
  const day = bucket.slice(0, 10);
  if (interval === "week") return { date_from: day, date_to: addDays(day, 6) };
  if (interval === "month" || interval === "quarter") {
    const d = new Date(`${day}T00:00:00Z`);
    d.setUTCMonth(d.getUTCMonth() + (interval === "month" ? 1 : 3));
    return { date_from: day, date_to: addDays(d.toISOString().slice(0, 10), -1) };
  }
  return { date_from: day, date_to: day };
}

// people of a trend point: {query (trends, filters folded in), series, index, data}
export async function drillPoint(title, query, hit, data) {
  const specs = query.series || [];
  const spec = specs.length === 1 ? specs[0] : specs[hit.series.raw.meta && hit.series.raw.meta.series_index !== undefined
    ? hit.series.raw.meta.series_index : hit.series.index % Math.max(1, specs.length)] || specs[0];
  const bucket = hit.series.buckets[hit.index];
  const range = bucketRange(String(bucket), (data && data.interval) || query.interval || "day");
  const label = `${hit.series.label} · ${hit.series.labels[hit.index]}`;
  const filters = [...(query.filters || []), ...((spec && spec.filters) || [])];
  const breakdowns = (query.breakdown || []).map((b) => (typeof b === "string" ? b : b.property)).filter(Boolean);
  (hit.series.breakdown || []).forEach((value, i) => {
    if (breakdowns[i] && value !== "$other" && value !== null) filters.push({ type: "property", key: breakdowns[i], operator: "eq", value });
  });
  if (!spec || !spec.event) {
    // "any event": the persons API cannot say who had an event inside the period, only who was seen
    // around it: first seen before its end and last seen after its start (said so in the panel)
    const end = range.date_to.includes("T") ? Date.parse(range.date_to) : Date.parse(`${range.date_to}T00:00:00Z`) + 864e5;
    const params = new URLSearchParams({ seen_after: new Date(Date.parse(range.date_from)).toISOString(),
      seen_before: new Date(end).toISOString(), limit: "100" });
    if (query.cohort_id) params.set("cohort_id", query.cohort_id);
    return showPeople(`${title}: ${label}`, async () => (await api(`/v1/persons?${params}`)).results.map((p) => p.distinct_id),
      "Any event: people first seen before this period ended and last seen after it began (most recent first).");
  }
  const funnel = { kind: "funnels", steps: [{ event: spec.event, filters }, { event: spec.event, filters }],
    date_range: range, timezone: query.timezone || null, cohort_id: query.cohort_id || null };
  return showPeople(`${title}: ${label}`, async (status, offset) => (await api("/v1/insights/funnels/people",
    { method: "POST", json: { query: funnel, step: 1, status: "converted", limit: 100, offset } })).people,
  `People who did ${spec.event} in this period.`);
}

export async function drillStep(title, query, step) {
  const load = async (status, offset) => (await api("/v1/insights/funnels/people",
    { method: "POST", json: { query, step, status, limit: 100, offset } })).people;
  const name = (query.steps[step - 1] || {}).label || (query.steps[step - 1] || {}).event || `step ${step}`;
  return showPeople(`${title}: step ${step} (${name})`, load, null, step > 1);
}

// people of a retention cell: the cohort (period 0) or those of it back in period n
export async function drillCell(title, query, hit) {
  const body = { query, cohort: hit.cohort, period: hit.period, limit: 100 };
  if (hit.breakdown) body.breakdown_value = hit.breakdown;
  const unit = query.period || "week";
  return showPeople(`${title}: ${hit.label} · ${unit} ${hit.period}`,
    async (status, offset) => (await api("/v1/insights/retention/people", { method: "POST", json: { ...body, offset } })).people,
    hit.period ? `People of the ${hit.cohort} cohort who came back in ${unit} ${hit.period}.` : `People who started in the ${hit.cohort} ${unit}.`,
    false);
}

// people at a path node (step, name), or on its link to next_name
export async function drillPath(title, query, hit) {
  const body = { query, step: hit.step, name: hit.name, limit: 100 };
  if (hit.next_name) body.next_name = hit.next_name;
  const shown = (name) => (name === "$other" ? "other events" : name);
  const what = hit.next_name ? `${shown(hit.name)} → ${shown(hit.next_name)}` : shown(hit.name);
  return showPeople(`${title}: step ${hit.step}, ${what}`,
    async (status, offset) => (await api("/v1/insights/paths/people", { method: "POST", json: { ...body, offset } })).people,
    hit.next_name ? `People whose step ${hit.step} was ${shown(hit.name)} and step ${hit.step + 1} ${shown(hit.next_name)}.`
      : `People whose step ${hit.step} was ${shown(hit.name)}.`);
}

// Any drill-down hit of a chart or a table: a point, a funnel step, a retention cell or a path node/link.
export function drill(title, query, hit, data) {
  if (hit.kind === "step") return drillStep(title, query, hit.step);
  if (hit.kind === "cell") return drillCell(title, query, hit);
  if (hit.kind === "path") return drillPath(title, query, hit);
  return drillPoint(title, query, hit, data);
}

async function showPeople(title, load, note, canDrop = false) {
  const list = h("ul", { class: "people", "aria-label": "People" });
  const status = h("p", { class: "muted" }, "Loading…");
  const save = h("button", { type: "button", class: "ghost small", id: "save-cohort", disabled: true }, "Save as cohort");
  let people = [];
  let mode = "converted";
  const toggle = canDrop ? h("div", { class: "segmented", role: "group", "aria-label": "Which people" },
    h("button", { type: "button", class: "small", "aria-pressed": "true", onclick: (e) => switchTo("converted", e.target) }, "Converted"),
    h("button", { type: "button", class: "small ghost", "aria-pressed": "false", onclick: (e) => switchTo("dropped", e.target) }, "Dropped off")) : null;
  async function fill() {
    status.textContent = "Loading…";
    list.replaceChildren();
    try {
      people = await load(mode, 0);
      status.textContent = people.length ? `${people.length}${people.length === 100 ? "+" : ""} people${note ? ` · ${note}` : ""}` : "Nobody here.";
      list.replaceChildren(...people.map((id) => h("li", {}, h("button", { type: "button", class: "link person", dataset: { person: id },
        onclick: () => showPerson(id) }, id))));
      save.disabled = !people.length;
    } catch (error) {
      if (error.stale) return;
      status.replaceWith(errorBox(error));
    }
  }
  async function switchTo(next, button) {
    mode = next;
    for (const b of toggle.querySelectorAll("button")) { b.setAttribute("aria-pressed", String(b === button)); b.classList.toggle("ghost", b !== button); }
    await fill();
  }
  save.addEventListener("click", async () => {
    const made = await dialog("Save these people as a cohort", [field("Name", "name", title.slice(0, 180), { required: true })],
      (values) => api("/v1/cohorts", { method: "POST", json: { name: values.name, kind: "static", distinct_ids: people } }));
    if (made) toast(`Cohort “${made.name}” saved with ${people.length} people.`);
  });
  openDrawer(title, h("div", { class: "drawer-tools" }, toggle, save), status, list);
  await fill();
}

export async function showPerson(id) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  openDrawer(`Person ${id}`, body);
  try {
    const [person, events] = await Promise.all([api(`/v1/persons/${encodeURIComponent(id)}`),
      api(`/v1/persons/${encodeURIComponent(id)}/events?limit=50`)]);
    const props = Object.entries(person.properties || {});
    body.replaceChildren(
      h("dl", { class: "facts" }, h("dt", {}, "First seen"), h("dd", {}, new Date(person.first_seen).toLocaleString()),
        h("dt", {}, "Last seen"), h("dd", {}, new Date(person.last_seen).toLocaleString()),
        h("dt", {}, "Events"), h("dd", {}, fmt(person.event_count))),
      h("h3", {}, "Properties"),
      props.length ? h("table", { class: "data-table" }, h("tbody", {}, props.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k),
        h("td", {}, typeof v === "object" ? JSON.stringify(v) : String(v)))))) : h("p", { class: "muted" }, "None."),
      h("h3", {}, "Recent events"),
      h("ol", { class: "events", id: "person-events" }, events.map((e) => h("li", {},
        h("strong", {}, e.event), " ", h("time", { datetime: e.timestamp }, new Date(e.timestamp).toLocaleString()),
        Object.keys(e.properties || {}).length ? h("span", { class: "event-props" }, Object.entries(e.properties)
          .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ")) : null))),
    );
  } catch (error) {
    if (!error.stale) body.replaceChildren(errorBox(error));
  }
}

// Queue an export and follow it until its file can be downloaded.
export async function exportSource(source, format = "csv") {
  const accepted = await api("/v1/exports", { method: "POST", json: { source, format } });
  const status = h("p", { id: "export-status" }, "Export queued…");
  openDrawer("Export", status, h("p", { class: "muted" }, "Every export is listed under Exports."));
  for (let i = 0; i < 240; i++) {
    const current = await api(`/v1/exports/${accepted.id}`);
    if (current.status === "succeeded") {
      status.replaceChildren(`Ready: ${fmt(current.rows_written)} rows. `,
        h("a", { href: current.download_url, id: "export-download", download: "" }, `Download ${format.toUpperCase()}`));
      return current;
    }
    if (["failed", "expired", "cancelled"].includes(current.status)) {
      status.replaceWith(h("p", { class: "error", role: "alert" }, `Export ${current.status}: ${current.error || ""}`));
      return current;
    }
    status.textContent = `Export ${current.status}${current.progress ? ` · ${Math.round(current.progress * 100)}%` : ""}…`;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return null;
}
