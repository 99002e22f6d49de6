// Entry point: sign in with an API key (sessionStorage only), route between dashboards, the insight
// builder and the cohort / export / report lists (#/d/<id>, #/insight?…, #/cohorts, #/exports, #/reports).
import { $, KEY, api, clearError, loadNames, showError, state } from "./api.js";
import { clearDashboard, closeStream, openDashboard, resetFilterForm, showDashboards, showWelcome } from "./dashboard.js";
import { closeDrawer } from "./drill.js";
import { newReport, showCohorts, showExports, showReports } from "./manage.js";

async function loadCohorts() {
  try {
    state.cohorts = await api("/v1/cohorts");
    const select = $("f-cohort");
    for (const option of [...select.options]) if (option.value) option.remove();
    for (const c of state.cohorts) select.add(new Option(c.name, c.id));
  } catch (_) { state.cohorts = []; }
}
async function loadMetrics() {
  try { state.metrics = new Map((await api("/v1/metrics")).map((m) => [m.id, m])); } catch (_) { state.metrics = new Map(); }
}

function showView(name) {
  $("view-dashboard").hidden = name !== "dashboard";
  $("view-insight").hidden = name !== "insight";
  $("view-manage").hidden = name !== "manage";
  const tab = { dashboard: "dashboards", insight: "insight" }[name];
  for (const a of document.querySelectorAll("#tabs a")) {
    const active = a.dataset.tab === (tab || location.hash.slice(2).split(/[/?]/)[0]);
    if (active) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

let builder = null;
async function route() {
  const hash = location.hash;
  clearError();
  const session = state.session;
  try {
    const match = hash.match(/^#\/d\/(.+)$/);
    if (match) { showView("dashboard"); return await openDashboard(decodeURIComponent(match[1])); }
    closeStream();
    if (hash.startsWith("#/insight")) {
      showView("insight");
      builder = builder || await import("./builder.js");
      return await builder.showBuilder(new URLSearchParams(hash.split("?")[1] || ""));
    }
    if (hash === "#/cohorts") { showView("manage"); return await showCohorts(); }
    if (hash === "#/exports") { showView("manage"); return await showExports(); }
    if (hash === "#/reports") { showView("manage"); return await showReports(); }
    showView("dashboard");
    const dashboards = await showDashboards();
    if (session !== state.session || location.hash !== hash) return; // the visitor went elsewhere meanwhile
    if (dashboards.length) location.replace(`#/d/${encodeURIComponent(dashboards[0].id)}`);
    else await showWelcome();
  } catch (error) {
    if (error.stale) return;
    showError(error);
    if (error.status === 401) signOut();
  }
}
window.addEventListener("hashchange", () => { if (state.key) { closeDrawer(); route(); } });
$("report-dashboard").addEventListener("click", () => {
  for (const d of document.querySelectorAll("details.menu[open]")) d.open = false;
  newReport(null, state.dashboard && state.dashboard.dashboard_id).catch(showError);
});

// Everything one key saw goes on sign-out and before a sign-in: drawn widgets, lists, filters,
// caches, the open stream, the dashboard id in the URL and this page's storage entries. Answers
// still on their way for the old key are dropped (state.session changes).
function resetState() {
  state.session += 1;
  window.aeEarly = null; // answers started for the previous key
  closeStream();
  clearDashboard();
  closeDrawer();
  state.filters = {};
  state.metrics = new Map();
  state.cohorts = [];
  state.names = null;
  state.updates = 0;
  delete document.body.dataset.updates;
  $("dashboard-list").innerHTML = "";
  $("view-insight").replaceChildren();
  $("view-manage").replaceChildren();
  $("event-names").replaceChildren();
  $("property-keys").replaceChildren();
  clearError();
  resetFilterForm();
  for (const option of [...$("f-cohort").options]) if (option.value) option.remove();
  $("tenant-name").textContent = "";
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  for (const storage of [sessionStorage, localStorage]) {
    for (const name of Object.keys(storage)) if (name.startsWith("ae_")) storage.removeItem(name);
  }
}
function signOut() {
  resetState();
  state.key = null;
  $("api-key").value = "";
  $("app").hidden = true;
  $("who").hidden = true;
  $("tabs").hidden = true;
  $("sign-in").hidden = false;
}
document.addEventListener("ae-sign-out", signOut);
$("sign-out").addEventListener("click", signOut);
$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  resetState();
  state.key = $("api-key").value.trim();
  try {
    await api("/v1/dashboards");
    sessionStorage.setItem(KEY, state.key);
    $("sign-in-error").hidden = true;
    start();
  } catch (error) {
    state.key = null;
    $("sign-in-error").textContent = error.status === 401 ? "That key is not valid." : error.message;
    $("sign-in-error").hidden = false;
  }
});

async function start() {
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("tabs").hidden = false;
  $("tenant-name").textContent = `Key ${state.key.slice(0, 10)}…`;
  try {
    // the dashboard's render starts at once; widgets are drawn once the metric catalogue is in too
    state.ready = Promise.all([loadMetrics(), loadCohorts()]);
    await Promise.all([showDashboards(), route()]);
    // the builder's pickers (the tenant's taxonomy), fetched once the first screen is drawn
    const later = window.requestIdleCallback || ((fn) => setTimeout(fn, 200));
    later(() => loadNames().catch(() => {}));
  } catch (error) {
    if (!error.stale && (error.status === 401 || error.status === 403)) signOut();
  }
}

function boot() { if (state.key) start(); else signOut(); }
// Chart.js is a deferred classic script; modules run after it, but wait for it to be safe.
if (window.Chart) boot(); else window.addEventListener("DOMContentLoaded", boot, { once: true });
