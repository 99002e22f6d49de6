// The read-only embed page (`/embed/{token}`, docs/embedding.md): reads `/v1/embed/{token}` (the
// page's own query string is passed on: date_from, date_to, interval, properties) and draws each
// widget, or the one insight, with the dashboard's chart code. No key, no editing, no drill-down.
import { draw } from "./charts.js";

const token = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const $ = (id) => document.getElementById(id);
const VIZ = { trends: "line", funnels: "funnel", retention: "retention_table", engagement: "line", paths: "line" };

function card(title) {
  const body = document.createElement("div");
  body.className = "body";
  const heading = document.createElement("h3");
  heading.textContent = title;
  const header = document.createElement("header");
  header.append(heading);
  const element = document.createElement("section");
  element.className = "widget";
  element.append(header, body);
  $("embed-grid").append(element);
  return { element, body };
}

async function load() {
  const response = await fetch(`/v1/embed/${encodeURIComponent(token)}${location.search}`, { referrerPolicy: "no-referrer" });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("embed-title").textContent = "This view is not available";
    $("embed-error").textContent = (answer.error && answer.error.message) || `HTTP ${response.status}`;
    $("embed-error").hidden = false;
    document.body.dataset.state = "error";
    return;
  }
  $("embed-title").textContent = answer.title;
  $("embed-note").textContent = `Read-only view · available until ${new Date(answer.expires_at).toLocaleString()}`;
  const items = answer.kind === "dashboard"
    ? answer.dashboard.widgets
    : [{ id: "insight", title: answer.title, viz: VIZ[answer.insight.kind] || "line", data: answer.insight, options: {} }];
  for (const item of items) {
    const { element, body } = card(item.title);
    element.dataset.widgetId = item.id;
    if (item.error) {
      body.append(Object.assign(document.createElement("div"), { className: "widget-error", textContent: item.error.message }));
      continue;
    }
    draw(item, body, {});
  }
  document.body.dataset.state = "ready";
}
load();
