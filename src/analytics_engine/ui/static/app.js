/* Analytics Engine web dashboard: sign in with an API key (sessionStorage), list dashboards, render
   widgets with Chart.js, change filters, live updates over SSE (EventSource + a signed stream token). */
(() => {
  "use strict";
  const KEY = "ae_api_key";
  const PALETTE = ["#4f46e5", "#10b981", "#f59e0b", "#e11d48", "#0ea5e9", "#8b5cf6", "#14b8a6", "#f97316"];
  const $ = (id) => document.getElementById(id);
  const state = { key: sessionStorage.getItem(KEY), dashboard: null, charts: new Map(), source: null,
    filters: {}, retry: null, updates: 0, session: 0 };
  window.aeDashboard = state; // for tests and debugging: the current dashboard state

  // ---------------------------------------------------------------- API
  async function api(path, options = {}) {
    const response = await fetch(path, {
      ...options,
      headers: { Authorization: `Bearer ${state.key}`, "Content-Type": "application/json", ...(options.headers || {}) },
    });
    const text = await response.text();
    const body = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = new Error((body && body.error && body.error.message) || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function filterQuery() {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(state.filters)) {
      if (value === undefined || value === null || value === "") continue;
      params.set(name, typeof value === "string" ? value : JSON.stringify(value));
    }
    const text = params.toString();
    return text ? `?${text}` : "";
  }

  // ---------------------------------------------------------------- formatting
  const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  function fmt(value, format, unit) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (format === "percent") return `${numberFormat.format(value)}%`;
    const text = Math.abs(value) >= 100000
      ? new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 }).format(value)
      : numberFormat.format(value);
    return unit && format === "currency" ? `${text} ${unit}` : text;
  }
  function shortLabel(label) {
    if (typeof label !== "string") return String(label);
    const match = label.match(/^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}))?/);
    if (!match) return label;
    return match[2] && match[2] !== "00:00" ? `${match[1].slice(5)} ${match[2]}` : match[1].slice(5);
  }

  // ---------------------------------------------------------------- result adapters
  const first = (...values) => values.find((v) => v !== undefined && v !== null);
  function seriesOf(data) {
    // `series: [{label, points: [{label, value, bucket}], total, breakdown_value}]`
    const list = (data && data.series) || [];
    return list.filter((s) => !(s.meta && s.meta.trend)).map((s, i) => ({
      label: String(first(s.label, `Series ${i + 1}`)),
      labels: (s.points || []).map((p) => p.label),
      values: (s.points || []).map((p) => (p.value === null ? 0 : p.value)),
      total: s.total,
    }));
  }
  function bigNumberOf(data) {
    // the first series' total over the whole range (for unique users this is not the sum of the points)
    if (!data) return null;
    const series = seriesOf(data);
    if (series.length && typeof series[0].total === "number") return series[0].total;
    if (data.totals && typeof data.totals === "object") {
      const value = Object.values(data.totals).find((v) => typeof v === "number");
      if (value !== undefined) return value;
    }
    return series.length ? series[0].values.reduce((a, b) => a + (Number(b) || 0), 0) : null;
  }
  function funnelOf(data) {
    // the engine answers `funnel: [{breakdown_value, steps: [{label, count, conversion_from_first (0..1)}]}]`
    const group = data && Array.isArray(data.funnel) && data.funnel.length ? data.funnel[0] : null;
    const steps = group ? group.steps : [];
    const counts = steps.map((s) => Number(s.count || 0));
    return {
      labels: steps.map((s, i) => String(first(s.label, s.event, `Step ${i + 1}`))),
      counts,
      rates: steps.map((s, i) => (s.conversion_from_first !== undefined ? s.conversion_from_first * 100
        : (counts[0] ? (counts[i] / counts[0]) * 100 : 0))),
    };
  }
  function retentionOf(data) {
    // `retention: [{label, date, size, values: [people per period], percentages: [0..100]}]`;
    // null values and percentages: periods in the future
    const rows = (data && data.retention) || [];
    return rows.map((r) => ({ label: String(first(r.label, r.date, "")), size: Number(r.size || 0),
      counts: r.values || [], pct: r.percentages || [] }));
  }

  // ---------------------------------------------------------------- drawing
  function destroyChart(id) {
    const chart = state.charts.get(id);
    if (chart) { chart.destroy(); state.charts.delete(id); }
  }
  function canvasIn(body) {
    const canvas = document.createElement("canvas");
    body.appendChild(canvas);
    return canvas;
  }
  const baseOptions = () => ({
    responsive: true, maintainAspectRatio: false, animation: { duration: 250 },
    interaction: { mode: "index", intersect: false },
    plugins: { legend: { display: false, labels: { boxWidth: 10, usePointStyle: true } },
      tooltip: { callbacks: {} } },
    scales: { x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12, color: "#6b7489" } },
      y: { beginAtZero: true, grid: { color: "#eef1f6" }, ticks: { color: "#6b7489", precision: 0 } } },
  });

  function drawSeries(widget, body, type) {
    const series = seriesOf(widget.data);
    if (!series.length || !series[0].values.length) return empty(body);
    const options = baseOptions();
    options.plugins.legend.display = series.length > 1;
    const datasets = series.map((s, i) => ({
      label: s.label, data: s.values.map(Number),
      borderColor: PALETTE[i % PALETTE.length], backgroundColor: type === "line" ? `${PALETTE[i % PALETTE.length]}22` : PALETTE[i % PALETTE.length],
      borderWidth: 2, pointRadius: s.values.length > 40 ? 0 : 2, tension: 0.3, fill: type === "line" && series.length === 1,
      borderRadius: type === "bar" ? 4 : 0, maxBarThickness: 48,
    }));
    const labels = series[0].labels.length ? series[0].labels : series[0].values.map((_, i) => i + 1);
    if (type === "bar" && series.every((s) => s.values.length === 1)) {
      // one value per series (a breakdown): one bar per series
      const chart = new Chart(canvasIn(body), { type: "bar", options,
        data: { labels: series.map((s) => s.label), datasets: [{ label: widget.title, data: series.map((s) => Number(s.values[0])),
          backgroundColor: series.map((_, i) => PALETTE[i % PALETTE.length]), borderRadius: 4, maxBarThickness: 56 }] } });
      options.plugins.legend.display = false;
      return chart;
    }
    if (type === "bar" && series.length > 1) {
      options.scales.x.stacked = true;
      options.scales.y.stacked = true;
    }
    return new Chart(canvasIn(body), { type, options, data: { labels: labels.map(shortLabel), datasets } });
  }

  function drawFunnel(widget, body) {
    const funnel = funnelOf(widget.data);
    if (!funnel.counts.length) return empty(body);
    const options = baseOptions();
    options.indexAxis = "y";
    options.scales = { x: { beginAtZero: true, grid: { color: "#eef1f6" }, ticks: { color: "#6b7489" } },
      y: { grid: { display: false }, ticks: { color: "#1c2333", font: { weight: "600" } } } };
    options.plugins.tooltip.callbacks.label = (ctx) => `${fmt(ctx.raw)} (${fmt(funnel.rates[ctx.dataIndex])}% of first step)`;
    return new Chart(canvasIn(body), { type: "bar", options, data: {
      labels: funnel.labels.map((l, i) => `${l} · ${fmt(funnel.rates[i])}%`),
      datasets: [{ label: widget.title, data: funnel.counts, borderRadius: 4, maxBarThickness: 34,
        backgroundColor: funnel.counts.map((_, i) => `rgba(79, 70, 229, ${1 - i * 0.18})`) }] } });
  }

  function drawRetention(widget, body) {
    const rows = retentionOf(widget.data);
    if (!rows.length) return empty(body);
    const periods = Math.max(...rows.map((r) => r.counts.length));
    const wrap = document.createElement("div");
    wrap.className = "retention";
    const table = document.createElement("table");
    const head = ["Cohort", "Users", ...Array.from({ length: periods }, (_, i) => `${i}`)];
    table.innerHTML = `<thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead>`;
    const tbody = document.createElement("tbody");
    for (const row of rows) {
      const tr = document.createElement("tr");
      tr.innerHTML = `<td class="cohort">${shortLabel(row.label)}</td><td class="size">${fmt(row.size)}</td>`;
      for (let i = 0; i < periods; i++) {
        const td = document.createElement("td");
        if (i < row.counts.length && (row.counts[i] === null || row.counts[i] === undefined)) {
          // a period this cohort has not reached yet: empty, not 0.0%
          td.className = "future";
          td.title = "not reached yet";
        } else if (i < row.counts.length) {
          const pct = Number(row.pct[i] || 0);
          td.textContent = `${pct.toFixed(1)}%`;
          td.title = `${fmt(row.counts[i])} users`;
          td.dataset.count = row.counts[i];
          td.style.background = `rgba(79, 70, 229, ${Math.min(0.9, 0.06 + pct / 110)})`;
          td.style.color = pct > 45 ? "#fff" : "#1c2333";
        }
        tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
    table.appendChild(tbody);
    wrap.appendChild(table);
    body.appendChild(wrap);
    return null;
  }

  function rangeText(range) {
    const match = typeof range === "string" && range.match(/^-(\d+)([dwmy])$/);
    if (!match) return range ? `since ${range}` : "in range";
    const unit = { d: "day", w: "week", m: "month", y: "year" }[match[2]];
    return `last ${match[1]} ${unit}${match[1] === "1" ? "" : "s"}`;
  }

  function drawBigNumber(widget, body, meta) {
    const value = bigNumberOf(widget.data);
    const box = document.createElement("div");
    box.className = "big-number";
    const format = meta && meta.format;
    box.innerHTML = `<div class="value"></div><div class="sub"></div>`;
    const shown = Math.abs(value) >= 1000 ? Math.round(value) : value;
    box.querySelector(".value").textContent = fmt(shown, format === "currency" ? "number" : format);
    box.querySelector(".value").dataset.value = value;
    const range = state.dashboard && state.dashboard.filters && state.dashboard.filters.date_from;
    box.querySelector(".sub").textContent = [meta && meta.unit, rangeText(range)]
      .filter(Boolean).join(" · ");
    body.appendChild(box);
    return null;
  }

  function empty(body) {
    body.innerHTML = `<div class="empty">No data in this range</div>`;
    return null;
  }

  function drawWidget(widget, element) {
    destroyChart(widget.id);
    const body = element.querySelector(".body");
    body.innerHTML = "";
    element.querySelector(".warning").hidden = !widget.warning;
    element.querySelector(".warning").textContent = widget.warning || "";
    const meta = element.querySelector(".meta");
    meta.textContent = widget.computed_at ? `${widget.cached ? "cached · " : ""}${new Date(widget.computed_at).toLocaleTimeString()}` : "";
    element.dataset.viz = widget.viz;
    if (widget.error) {
      body.innerHTML = `<div class="widget-error"></div>`;
      body.firstChild.textContent = `${widget.error.message} (${widget.error.code})`;
      return;
    }
    const metric = widget.metric_id && state.metrics ? state.metrics.get(widget.metric_id) : null;
    const definition = metric ? metric.definition : null;
    let chart = null;
    if (widget.viz === "line" || widget.viz === "bar") chart = drawSeries(widget, body, widget.viz);
    else if (widget.viz === "funnel") chart = drawFunnel(widget, body);
    else if (widget.viz === "retention_table") chart = drawRetention(widget, body);
    else if (widget.viz === "big_number") chart = drawBigNumber(widget, body, definition);
    if (chart) state.charts.set(widget.id, chart);
  }

  function widgetElement(widget) {
    const element = document.createElement("article");
    element.className = "widget";
    element.dataset.widgetId = widget.id;
    const layout = widget.layout || { x: 0, y: 0, w: 6, h: 4 };
    element.style.gridColumn = `${layout.x + 1} / span ${Math.min(layout.w, 12 - layout.x)}`;
    element.style.gridRow = `${layout.y + 1} / span ${layout.h}`;
    element.innerHTML = `<header><h3></h3><span class="meta"></span></header><p class="warning" hidden></p><div class="body"></div>`;
    element.querySelector("h3").textContent = widget.title;
    return element;
  }

  // ---------------------------------------------------------------- pages
  async function showDashboards() {
    const session = state.session;
    const dashboards = await api("/v1/dashboards");
    if (session !== state.session) return [];
    const list = $("dashboard-list");
    list.innerHTML = "";
    for (const d of dashboards) {
      const li = document.createElement("li");
      li.innerHTML = `<a href="#/d/${encodeURIComponent(d.id)}"></a>`;
      li.firstChild.textContent = d.name;
      const small = document.createElement("small");
      small.textContent = `${d.widgets} widget${d.widgets === 1 ? "" : "s"}`;
      li.firstChild.appendChild(small);
      list.appendChild(li);
    }
    if (!dashboards.length) list.innerHTML = `<li class="muted">No dashboards yet.</li>`;
    return dashboards;
  }

  async function loadCohorts() {
    const session = state.session;
    try {
      const cohorts = await api("/v1/cohorts");
      if (session !== state.session) return;
      const select = $("f-cohort");
      for (const c of cohorts) {
        const option = document.createElement("option");
        option.value = c.id;
        option.textContent = c.name;
        select.appendChild(option);
      }
    } catch (_) { /* cohorts are optional */ }
  }

  async function loadMetrics() {
    try {
      const metrics = await api("/v1/metrics");
      state.metrics = new Map(metrics.map((m) => [m.id, m]));
    } catch (_) { state.metrics = new Map(); }
  }

  async function openDashboard(id) {
    closeStream();
    for (const a of document.querySelectorAll("#dashboard-list a")) a.classList.toggle("active", a.getAttribute("href") === `#/d/${id}`);
    $("dashboard-error").hidden = true;
    const grid = $("grid");
    grid.classList.add("loading");
    const session = state.session;
    try {
      const result = await api(`/v1/dashboards/${encodeURIComponent(id)}/render${filterQuery()}`);
      // An answer for the key that was signed out meanwhile is dropped, never drawn for the next one.
      if (session !== state.session) return;
      state.dashboard = result;
      $("dashboard-title").textContent = result.name;
      $("filters").hidden = false;
      grid.innerHTML = "";
      for (const widget of result.widgets) {
        const element = widgetElement(widget);
        grid.appendChild(element);
        drawWidget(widget, element);
      }
      document.body.dataset.dashboard = id;
      document.body.dataset.rendered = String(Date.now());
      openStream(id);
    } catch (error) {
      if (session !== state.session) return;
      // A dashboard that cannot be shown leaves nothing of the previous one on screen.
      clearDashboard();
      $("dashboard-error").textContent = error.message;
      $("dashboard-error").hidden = false;
      if (error.status === 401) signOut();
    } finally {
      grid.classList.remove("loading");
    }
  }

  function applyWidget(widget) {
    const element = document.querySelector(`[data-widget-id="${CSS.escape(widget.id)}"]`);
    if (!element || !state.dashboard) return;
    const index = state.dashboard.widgets.findIndex((w) => w.id === widget.id);
    if (index >= 0) state.dashboard.widgets[index] = widget;
    drawWidget(widget, element);
    element.classList.add("flash");
    setTimeout(() => element.classList.remove("flash"), 900);
  }

  // ---------------------------------------------------------------- live updates
  function setLive(stateName, text) {
    $("live").dataset.state = stateName;
    $("live-text").textContent = text;
  }
  function closeStream() {
    if (state.source) { state.source.close(); state.source = null; }
    if (state.retry) { clearTimeout(state.retry); state.retry = null; }
    setLive("off", "offline");
  }
  async function openStream(id) {
    try {
      // EventSource cannot send headers: trade the key for a short-lived token bound to this dashboard.
      const session = state.session;
      const { token } = await api(`/v1/dashboards/${encodeURIComponent(id)}/stream-token`, { method: "POST" });
      if (session !== state.session) return;
      const query = filterQuery();
      const url = `/v1/dashboards/${encodeURIComponent(id)}/stream${query ? `${query}&` : "?"}token=${encodeURIComponent(token)}`;
      const source = new EventSource(url);
      state.source = source;
      source.onopen = () => setLive("on", "live");
      source.addEventListener("snapshot", (event) => {
        const body = JSON.parse(event.data);
        for (const widget of body.widgets) {
          const known = state.dashboard && state.dashboard.widgets.find((w) => w.id === widget.id);
          if (!known || JSON.stringify(known.data) !== JSON.stringify(widget.data)) applyWidget(widget);
        }
      });
      source.addEventListener("widget", (event) => {
        state.updates += 1;
        applyWidget(JSON.parse(event.data));
        setLive("on", `live · updated ${new Date().toLocaleTimeString()}`);
        document.body.dataset.updates = String(state.updates);
      });
      source.addEventListener("deleted", () => { closeStream(); route(); });
      source.onerror = () => {
        // The browser reconnects by itself with Last-Event-ID; a token that expired needs a new one.
        if (source.readyState === EventSource.CLOSED) {
          setLive("retrying", "reconnecting…");
          state.retry = setTimeout(() => { if (state.source === source) openStream(id); }, 3000);
        } else {
          setLive("retrying", "reconnecting…");
        }
      };
    } catch (error) {
      setLive("retrying", "live updates unavailable");
    }
  }

  // ---------------------------------------------------------------- filters
  function readFilters() {
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
    const key = $("f-key").value.trim();
    if (key) filters.properties = [{ key, operator: $("f-op").value, value: $("f-value").value }];
    return filters;
  }
  $("f-range").addEventListener("change", () => {
    for (const el of document.querySelectorAll(".filters .custom")) el.hidden = $("f-range").value !== "custom";
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.filters = readFilters();
    if (state.dashboard) openDashboard(state.dashboard.dashboard_id);
  });
  $("reset-filters").addEventListener("click", () => {
    $("filters").reset();
    for (const el of document.querySelectorAll(".filters .custom")) el.hidden = true;
    state.filters = {};
    if (state.dashboard) openDashboard(state.dashboard.dashboard_id);
  });

  // ---------------------------------------------------------------- sign in / routing
  function clearDashboard() {
    for (const id of [...state.charts.keys()]) destroyChart(id);
    state.dashboard = null;
    $("grid").innerHTML = "";
    $("dashboard-title").textContent = "Choose a dashboard";
    $("dashboard-description").textContent = "";
    $("filters").hidden = true;
    delete document.body.dataset.dashboard;
    delete document.body.dataset.rendered;
  }

  // Everything one key saw goes on sign-out and before a sign-in: drawn widgets, lists, filters,
  // caches, the open stream, the dashboard id in the URL and this page's storage entries. Answers
  // still on their way for the old key are dropped (state.session changes).
  function resetState() {
    state.session += 1;
    closeStream();
    clearDashboard();
    state.filters = {};
    state.metrics = new Map();
    state.updates = 0;
    delete document.body.dataset.updates;
    $("dashboard-list").innerHTML = "";
    $("dashboard-error").hidden = true;
    $("dashboard-error").textContent = "";
    $("filters").reset();
    for (const el of document.querySelectorAll(".filters .custom")) el.hidden = true;
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
    $("sign-in").hidden = false;
  }
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

  async function route() {
    const match = location.hash.match(/^#\/d\/(.+)$/);
    if (match) return openDashboard(decodeURIComponent(match[1]));
    const dashboards = await showDashboards();
    if (dashboards.length) location.hash = `#/d/${encodeURIComponent(dashboards[0].id)}`;
  }
  window.addEventListener("hashchange", () => { if (state.key) route(); });

  async function start() {
    $("sign-in").hidden = true;
    $("app").hidden = false;
    $("who").hidden = false;
    const session = state.session;
    try {
      await Promise.all([showDashboards(), loadCohorts(), loadMetrics()]);
      if (session !== state.session) return;
      $("tenant-name").textContent = `Key ${state.key.slice(0, 10)}…`;
      await route();
    } catch (error) {
      if (error.status === 401 || error.status === 403) signOut();
    }
  }

  if (state.key) start(); else signOut();
})();
