// Cohorts, exports and reports: listed and managed from the page (create, evaluate, run, download,
// delete). Cohorts are also made from a drill-down's people (drill.js).
import { $, ApiError, api, dialog, field, fmt, h, selectField, showError, state, toast } from "./api.js";

const when = (value) => (value ? new Date(value).toLocaleString() : "–");
function table(columns, rows, empty) {
  if (!rows.length) return h("p", { class: "muted empty-list" }, empty);
  return h("div", { class: "table-wrap" }, h("table", { class: "data-table" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows)));
}
function head(title, text, ...buttons) {
  return h("div", { class: "dash-head" }, h("div", {}, h("h1", {}, title), h("p", { class: "muted" }, text)), h("div", { class: "dash-actions" }, buttons));
}
async function confirmDelete(what, path, after) {
  const done = await dialog(`Delete ${what}?`, [h("p", {}, "This cannot be undone.")],
    () => api(path, { method: "DELETE" }).then(() => true), "Delete");
  if (done) { toast(`Deleted ${what}.`); await after(); }
}

export async function showCohorts() {
  const view = $("view-manage");
  const cohorts = await api("/v1/cohorts");
  state.cohorts = cohorts;
  const rows = cohorts.map((c) => h("tr", { dataset: { cohort: c.id } }, h("th", { scope: "row" }, c.name),
    h("td", {}, c.kind), h("td", {}, c.size === null ? "not evaluated" : fmt(c.size)), h("td", {}, when(c.last_evaluated_at)),
    h("td", { class: "actions" },
      c.kind === "dynamic" ? h("button", { type: "button", class: "ghost small", onclick: async () => {
        try { await api(`/v1/cohorts/${c.id}/evaluate`, { method: "POST" }); toast("Evaluation queued."); } catch (e) { showError(e); }
      } }, "Evaluate") : null,
      h("button", { type: "button", class: "ghost small danger", "aria-label": `Delete cohort ${c.name}`, onclick: () => confirmDelete(`cohort “${c.name}”`, `/v1/cohorts/${c.id}`, showCohorts) }, "Delete"))));
  const create = h("button", { type: "button", id: "new-cohort", onclick: async () => {
    const made = await dialog("New cohort", [field("Name", "name", "", { required: true, maxlength: 200 }),
      selectField("Kind", "kind", [["property", "People with a property value"], ["static", "A list of distinct_ids"]], "property"),
      field("Property (for a property cohort)", "key", "", { list: "property-keys" }),
      field("Value", "value", ""),
      field("distinct_ids (static: one per line)", "ids", "", { type: "textarea" })],
    (v) => {
      if (v.kind === "static") {
        const ids = v.ids.split(/\s+/).filter(Boolean);
        return api("/v1/cohorts", { method: "POST", json: { name: v.name, kind: "static", distinct_ids: ids } });
      }
      return api("/v1/cohorts", { method: "POST", json: { name: v.name, kind: "dynamic",
        definition: { type: "group", operator: "and", criteria: [{ type: "person_property", key: v.key, operator: "eq", value: v.value }] } } });
    }, "Create");
    if (made) { toast(`Cohort “${made.name}” created.`); await showCohorts(); }
  } }, "+ New cohort");
  view.replaceChildren(head("Cohorts", "Groups of people to filter any dashboard or insight by. Save one from a drill-down's people list.", create),
    table(["Name", "Kind", "People", "Last evaluated", ""], rows, "No cohorts yet."));
}

export async function showExports() {
  const view = $("view-manage");
  const exports = await api("/v1/exports");
  const rows = exports.map((e) => h("tr", { dataset: { export: e.id } }, h("th", { scope: "row" }, e.id),
    h("td", {}, e.source_type), h("td", {}, e.format), h("td", { class: `status-${e.status}` }, e.status + (e.error ? `: ${e.error}` : "")),
    h("td", {}, fmt(e.rows_written)), h("td", {}, when(e.created_at)),
    h("td", { class: "actions" }, e.download_url ? h("a", { href: e.download_url, download: "", class: "small" }, "Download") : null,
      h("button", { type: "button", class: "ghost small danger", "aria-label": `Delete export ${e.id}`, onclick: () => confirmDelete("the export", `/v1/exports/${e.id}`, showExports) },
        ["queued", "running"].includes(e.status) ? "Cancel" : "Delete"))));
  view.replaceChildren(head("Exports", "Files of raw events, insights and dashboards. Start one from a widget's ⋯ menu or the builder.",
    h("button", { type: "button", class: "ghost", onclick: showExports }, "Refresh")),
  table(["Export", "Source", "Format", "Status", "Rows", "Created", ""], rows, "No exports yet."));
}

export async function showReports() {
  const view = $("view-manage");
  let reports;
  try { reports = await api("/v1/reports"); } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      view.replaceChildren(head("Reports", ""), h("p", { class: "error", role: "alert" }, error.full));
      return;
    }
    throw error;
  }
  const dashboards = await api("/v1/dashboards");
  const names = new Map(dashboards.map((d) => [d.id, d.name]));
  const rows = reports.map((r) => h("tr", { dataset: { report: r.id } }, h("th", { scope: "row" }, r.name),
    h("td", {}, r.dashboard_id ? names.get(r.dashboard_id) || r.dashboard_id : `${r.queries.length} queries`),
    h("td", {}, r.schedule || "on demand"), h("td", {}, (r.formats || []).join(", ")),
    h("td", {}, ((r.recipients && r.recipients.emails) || []).join(", ") || "–"),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "ghost small", onclick: async () => {
        try { const run = await api(`/v1/reports/${r.id}/run`, { method: "POST" }); toast(`Report run ${run.status}.`); } catch (e) { showError(e); }
      } }, "Run now"),
      h("button", { type: "button", class: "ghost small danger", "aria-label": `Delete report ${r.name}`, onclick: () => confirmDelete(`report “${r.name}”`, `/v1/reports/${r.id}`, showReports) }, "Delete"))));
  const create = h("button", { type: "button", id: "new-report", onclick: () => newReport(dashboards) }, "+ Schedule a report");
  view.replaceChildren(head("Reports", "A dashboard sent as PDF and XLSX on a schedule.", create),
    table(["Name", "Of", "Schedule", "Formats", "Recipients", ""], rows, "No reports yet."));
}

export async function newReport(dashboards, dashboardId) {
  const list = dashboards || await api("/v1/dashboards");
  const made = await dialog("Schedule a report", [field("Name", "name", "", { required: true, maxlength: 200 }),
    selectField("Dashboard", "dashboard", list.map((d) => [d.id, d.name]), dashboardId),
    selectField("When", "schedule", [["0 8 * * MON", "Mondays 08:00"], ["0 8 * * *", "Every day 08:00"], ["0 8 1 * *", "First of the month 08:00"], ["", "Only on demand"]], "0 8 * * MON"),
    field("E-mail recipients (comma separated)", "emails", "", { type: "text" })],
  (v) => api("/v1/reports", { method: "POST", json: { name: v.name, dashboard_id: v.dashboard, schedule: v.schedule || null,
    recipients: { emails: v.emails.split(",").map((s) => s.trim()).filter(Boolean) } } }), "Schedule");
  if (made) {
    toast(`Report “${made.name}” scheduled.`);
    if (location.hash === "#/reports") await showReports(); else location.hash = "#/reports";
  }
  return made;
}
