// Paths (POST /v1/insights/paths) as a Sankey: one column per step, a node per event name (height: its
// people), a band per link (width: its people). Plain SVG, no library. Each node is a button (the people
// at that step, `onDrill({kind: "path", step, name})`), and so is each band (the people on that link,
// `next_name`), by mouse or keyboard. Too narrow for a column per step with readable names (a phone, a
// small widget), the same answer is a list instead: per step its events (a bar for their people) and,
// under each, where its people went next; every entry a button to its people.
import { fmt, h } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#4f46e5", "#0f766e", "#b45309", "#be123c", "#0369a1", "#7c3aed", "#15803d", "#c2410c"];
const OTHER = "$other";
const NODE_WIDTH = 12;
const MIN_WIDTH = 480; // narrower than this, or than MIN_COLUMN a step, the list form (names stay readable)
const MIN_COLUMN = 150;
const GAP = 10;

function svg(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined && value !== null) element.setAttribute(name, value);
  for (const child of children) element.append(child);
  return element;
}
const nameOf = (node) => (node.name === OTHER ? "other events" : node.name);
const seconds = (s) => (s === null || s === undefined ? "–" : s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min`
  : s < 172800 ? `${fmt(s / 3600)} h` : `${fmt(s / 86400)} days`);

// Where every node and band goes in a box of `width` × `height` (pure: tested through the page).
export function sankeyLayout(data, width, height) {
  const nodes = (data.nodes || []).map((n) => ({ ...n }));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const steps = [...new Set(nodes.map((n) => n.step))].sort((a, b) => a - b);
  const columns = steps.map((step) => nodes.filter((n) => n.step === step)); // API order: most people first, $other last
  const busiest = Math.max(1, ...columns.map((c) => c.reduce((a, n) => a + n.people, 0)));
  const tallest = Math.max(1, ...columns.map((c) => c.length));
  const scale = Math.max(0.0001, (height - GAP * (tallest - 1)) / busiest);
  const span = steps.length > 1 ? (width - NODE_WIDTH) / (steps.length - 1) : 0;
  const colour = new Map();
  columns.forEach((column, c) => {
    let y = 0;
    for (const node of column) {
      if (!colour.has(node.name)) colour.set(node.name, node.name === OTHER ? "#6b7280" : COLOURS[colour.size % COLOURS.length]);
      Object.assign(node, { x: c * span, y, h: Math.max(2, node.people * scale), colour: colour.get(node.name), out: 0, in: 0 });
      y += node.h + GAP;
    }
  });
  const links = (data.links || []).filter((l) => byId.has(l.source) && byId.has(l.target)).map((l) => ({ ...l }));
  // bands leave a node in the order of their targets (top to bottom), and arrive in their sources' order
  const sorted = (list, key) => [...list].sort((a, b) => byId.get(a[key]).y - byId.get(b[key]).y);
  for (const link of sorted(links, "target")) {
    const source = byId.get(link.source);
    link.w = Math.max(1, link.people * scale);
    link.y0 = source.y + source.out + link.w / 2;
    source.out += link.w;
  }
  for (const link of sorted(links, "source")) {
    const target = byId.get(link.target);
    link.y1 = target.y + target.in + link.w / 2;
    target.in += link.w;
    link.x0 = byId.get(link.source).x + NODE_WIDTH;
    link.x1 = target.x;
    link.colour = byId.get(link.source).colour;
  }
  return { nodes, links, byId, steps };
}

export function drawSankey(item, body, onDrill) {
  const data = item.data || {};
  if (!(data.nodes || []).length) {
    body.replaceChildren(h("div", { class: "empty" }, "No paths in this range"));
    return null;
  }
  const available = body.clientWidth || 640;
  const stepCount = new Set(data.nodes.map((n) => n.step)).size;
  if (available < Math.max(MIN_WIDTH, stepCount * MIN_COLUMN)) return drawList(item, body, onDrill);
  const width = Math.max(320, available);
  const height = Math.max(160, (body.clientHeight || 320) - 28);
  const { nodes, links, byId, steps } = sankeyLayout(data, width, height);
  const total = (data.totals && data.totals.people) || Math.max(...nodes.filter((n) => n.step === steps[0]).map((n) => n.people), 0);
  const bands = svg("g", { class: "sankey-links" });
  for (const link of links) {
    const mid = (link.x0 + link.x1) / 2;
    const source = byId.get(link.source);
    const target = byId.get(link.target);
    const label = `Step ${source.step} to ${source.step + 1}: ${nameOf(source)} → ${nameOf(target)}, ${fmt(link.people)} people · median ${seconds(link.median_seconds)}`;
    const path = svg("path", {
      d: `M${link.x0},${link.y0} C${mid},${link.y0} ${mid},${link.y1} ${link.x1},${link.y1}`,
      stroke: link.colour, "stroke-width": link.w, fill: "none", "stroke-opacity": 0.32,
      "data-source": link.source, "data-target": link.target, "data-people": link.people,
      role: onDrill ? "button" : "img", tabindex: onDrill ? 0 : undefined, "aria-label": label,
    }, svg("title", {}, label));
    if (onDrill) pressable(path, () => onDrill({ kind: "path", step: source.step, name: source.name, next_name: target.name }));
    bands.append(path);
  }
  const nodeGroup = svg("g", { class: "sankey-nodes" });
  const last = steps[steps.length - 1];
  for (const node of nodes) {
    const label = `Step ${node.step}: ${nameOf(node)}, ${fmt(node.people)} people${node.dropped ? `, ${fmt(node.dropped)} end here` : ""}`;
    const onRight = node.step !== last;
    const g = svg("g", { class: "sankey-node", "data-id": node.id, "data-people": node.people, role: onDrill ? "button" : "img",
      tabindex: onDrill ? 0 : undefined, "aria-label": label },
    svg("rect", { x: node.x, y: node.y, width: NODE_WIDTH, height: node.h, rx: 2, fill: node.colour }),
    svg("text", { x: onRight ? node.x + NODE_WIDTH + 4 : node.x - 4, y: node.y + node.h / 2, dy: "0.35em",
      "text-anchor": onRight ? "start" : "end", "aria-hidden": "true" },
    `${nameOf(node)} · ${fmt(node.people)}`),
    svg("title", {}, label));
    if (onDrill) pressable(g, () => onDrill({ kind: "path", step: node.step, name: node.name }));
    nodeGroup.append(g);
  }
  const heads = svg("g", { class: "sankey-steps", "aria-hidden": "true" }, ...steps.map((step) => {
    const x = nodes.find((n) => n.step === step).x;
    return svg("text", { x: step === last ? x + NODE_WIDTH : x, y: -10, "text-anchor": step === last && steps.length > 1 ? "end" : "start" }, `Step ${step}`);
  }));
  const chart = svg("svg", { class: "sankey", viewBox: `-2 -24 ${width + 4} ${height + 28}`, width: "100%", height: "100%",
    role: "group", "aria-label": `${item.title}: flow of ${fmt(total)} people over ${steps.length} steps (each event and each band a button: its people)` },
  heads, bands, nodeGroup);
  body.append(h("div", { class: "sankey-wrap" }, chart));
  return null;
}

function pressable(element, go) {
  element.addEventListener("click", go);
  element.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); go(); } });
}

// The narrow form: per step, its events with their people (a bar) and where those people went next.
function drawList(item, body, onDrill) {
  const data = item.data;
  const nodes = data.nodes;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const steps = [...new Set(nodes.map((n) => n.step))].sort((a, b) => a - b);
  const widest = Math.max(1, ...nodes.map((n) => n.people));
  const colour = new Map();
  for (const node of nodes) if (!colour.has(node.name)) colour.set(node.name, node.name === OTHER ? "#6b7280" : COLOURS[colour.size % COLOURS.length]);
  const button = (text, label, hit, attrs) => (onDrill
    ? h("button", { type: "button", class: "ghost sankey-item", "aria-label": label, onclick: () => onDrill(hit), dataset: attrs }, text)
    : h("span", { class: "sankey-item", dataset: attrs }, text));
  const sections = steps.map((step) => h("section", { class: "sankey-step" }, h("h4", {}, `Step ${step}`),
    h("ul", {}, nodes.filter((n) => n.step === step).map((node) => {
      const next = data.links.filter((l) => l.source === node.id && byId.has(l.target)).sort((a, b) => b.people - a.people);
      return h("li", {},
        button([h("span", { class: "name" }, nameOf(node)), h("span", { class: "count" }, fmt(node.people))],
          `People at step ${step}: ${nameOf(node)}, ${fmt(node.people)} people${node.dropped ? `, ${fmt(node.dropped)} end here` : ""}`,
          { kind: "path", step, name: node.name }, { id: node.id, people: node.people }),
        h("span", { class: "bar", style: `width: ${Math.max(2, (node.people / widest) * 100).toFixed(1)}%; background: ${colour.get(node.name)}` }),
        next.length ? h("ul", { class: "sankey-next" }, next.map((link) => {
          const target = byId.get(link.target);
          return h("li", {}, button([h("span", { class: "name" }, `→ ${nameOf(target)}`), h("span", { class: "count" }, fmt(link.people))],
            `People going from ${nameOf(node)} to ${nameOf(target)} after step ${step}: ${fmt(link.people)}, median ${seconds(link.median_seconds)}`,
            { kind: "path", step, name: node.name, next_name: target.name }, { source: link.source, target: link.target, people: link.people }));
        })) : null);
    }))));
  body.append(h("div", { class: "sankey-list", role: "group", tabindex: 0,
    "aria-label": `${item.title}: paths by step (each entry a button: its people)` }, sections));
  return null;
}

// The paths answer as rows: one per link (and a row per node where paths end), for the table view.
export function pathsTable(data) {
  const byId = new Map((data.nodes || []).map((n) => [n.id, n]));
  const rows = (data.links || []).filter((l) => byId.has(l.source) && byId.has(l.target)).map((l) => {
    const source = byId.get(l.source);
    const target = byId.get(l.target);
    return { cells: [source.step, source.name, target.name, l.people, seconds(l.median_seconds)],
      hit: { kind: "path", step: source.step, name: source.name, next_name: target.name } };
  });
  return { columns: ["Step", "From", "To", "People", "Median time"], rows };
}
