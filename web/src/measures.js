// Control measures and protected sites: drawn on the map in the fires conventions (FM 3-09,
// ATP 3-09.34, APP-6: hatched NFAs, dashed RFAs, labelled fire-support lines, no-strike sites
// at their radius), kept live from the stream, listed in a side panel, and for planners drawn,
// edited and deleted with leaflet-geoman (loaded for them alone). The shapes are not
// interactive (so a click inside an NFA still reaches the tracks and the check tool); a click
// on the map finds the measure under it instead.
import { ApiError } from "./api.js";
import { formatDistance, latLonText, mgrsOf, wrap } from "./geo.js";
import { language, onLanguage, registerStrings, t, translate } from "./i18n.js";
import { script, stylesheet } from "./vendor.js";

const KINDS = ["NFA", "RFA", "FFA", "ACA", "KILLBOX", "RFL", "FSCL", "CFL", "BOUNDARY", "NSL", "RTL", "CHECKFIRE"];
const LINE_KINDS = new Set(["RFL", "FSCL", "CFL", "BOUNDARY"]);
const CODE = { KILLBOX: "KILL BOX", CHECKFIRE: "CHECK FIRE" }; // what the label says, if not the kind
const RED = "#c00000";
const BLACK = "#111";
const BLUE = "#1f4fbf";
const PURPLE = "#6a1b9a";
const MAGENTA = "#d000c0";
const ORANGE = "#c25400";
// Each kind differs by line pattern and label as well as colour, so the overlay reads in greyscale.
const STYLE = {
  NFA: { color: RED, weight: 2, fillColor: "url(#hf-hatch-NFA)", fillOpacity: 1 },
  RFA: { color: RED, weight: 2, dashArray: "10 6", fillColor: RED, fillOpacity: 0.06 },
  FFA: { color: BLACK, weight: 2, fillColor: BLUE, fillOpacity: 0.07 },
  ACA: { color: BLUE, weight: 2, dashArray: "14 4 3 4", fillColor: BLUE, fillOpacity: 0.05 },
  KILLBOX: { color: PURPLE, weight: 2.5, dashArray: "16 5", fillColor: "url(#hf-hatch-KILLBOX)", fillOpacity: 1 },
  RFL: { color: RED, weight: 3, fill: false },
  FSCL: { color: BLACK, weight: 2.5, fill: false },
  CFL: { color: BLACK, weight: 2.5, dashArray: "12 8", fill: false },
  BOUNDARY: { color: BLACK, weight: 4, fill: false },
  NSL: { color: BLACK, weight: 2, dashArray: "2 4", fillColor: "#fff", fillOpacity: 0.25 },
  RTL: { color: ORANGE, weight: 2, dashArray: "4 4", fillColor: ORANGE, fillOpacity: 0.06 },
  CHECKFIRE: { color: MAGENTA, weight: 5, fillColor: "url(#hf-hatch-CHECKFIRE)", fillOpacity: 1 },
};
// [colour, angle, spacing px] of the hatch patterns the styles above name.
const HATCHES = { NFA: [RED, 45, 9], KILLBOX: [PURPLE, -45, 14], CHECKFIRE: [MAGENTA, -45, 7] };
// Black and yellow: work in progress, unlike any measure or uncertainty circle.
const DRAFT = { color: "#111", weight: 3, dashArray: "6 4", fillColor: "#ffd400", fillOpacity: 0.3 };
const DIM = 0.35; // opacity of a measure outside its effective window
const LABELS_FROM_ZOOM = 9;
const RESTYLE_MS = 30000; // windows open and close with time alone
const LINE_HIT_PX = 6;

const entries = new Map(); // id -> {id, feature, group, shape}
let ctx;
let overlay; // every measure's group
let renderer; // the SVG renderer of the measures pane, holding the hatch patterns
const editor = { id: null, draft: null, drawing: null, confirming: false };
const ui = {}; // the panel's elements, by name

// -- reading a measure ------------------------------------------------------------------------

const idOf = (feature) => String(feature.properties?.id ?? feature.id);
const codeOf = (kind) => CODE[kind] || kind;

function titleOf(p) {
  const code = codeOf(p.kind);
  const name = (p.name || "").trim();
  if (!name) return code;
  return name.toUpperCase().startsWith(p.kind) || name.toUpperCase().startsWith(code) ? name : `${code} ${name}`;
}

// Where the measure stands in its effective window now: effective, pending, expired, or
// unreadable (drawn as effective: the server counts a restrictive one as in force).
function windowOf(p, now = Date.now()) {
  if (p.window_invalid) return "unreadable";
  const from = p.effective_from ? Date.parse(p.effective_from) : null;
  const to = p.effective_to ? Date.parse(p.effective_to) : null;
  if (from !== null && to !== null && to < from) return "unreadable";
  if (from !== null && now < from) return "pending";
  if (to !== null && now > to) return "expired";
  return "effective";
}

// "10 Jan 06:00Z" in the language's own day-month order, the year only when it is not this one.
function shortTime(iso) {
  const d = new Date(iso);
  const options = { day: "numeric", month: "short", timeZone: "UTC" };
  if (d.getUTCFullYear() !== new Date().getUTCFullYear()) options.year = "numeric";
  const lang = language() === "en" ? "en-GB" : language();
  const day = new Intl.DateTimeFormat(lang, options).format(d);
  const pad = (n) => String(n).padStart(2, "0");
  return `${day} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}Z`;
}

function timesOf(p) {
  const from = p.effective_from && shortTime(p.effective_from);
  const to = p.effective_to && shortTime(p.effective_to);
  if (from && to) return `${from} – ${to}`;
  if (from) return t("measure.from_t", { t: from });
  if (to) return t("measure.until_t", { t: to });
  return "";
}

// -- drawing ------------------------------------------------------------------------------------

function addHatches() {
  const svgNS = "http://www.w3.org/2000/svg";
  const defs = document.createElementNS(svgNS, "defs");
  for (const [kind, [colour, angle, gap]] of Object.entries(HATCHES)) {
    const pattern = document.createElementNS(svgNS, "pattern");
    pattern.id = `hf-hatch-${kind}`;
    for (const [name, value] of Object.entries({
      patternUnits: "userSpaceOnUse", width: gap, height: gap, patternTransform: `rotate(${angle})`,
    })) pattern.setAttribute(name, value);
    const line = document.createElementNS(svgNS, "line");
    for (const [name, value] of Object.entries({
      x1: 0, y1: 0, x2: 0, y2: gap, stroke: colour, "stroke-width": 1.5, "stroke-opacity": 0.7,
    })) line.setAttribute(name, value);
    pattern.append(line);
    defs.append(pattern);
  }
  renderer._container.prepend(defs); // Leaflet's SVG renderer has no API for defs
}

function styleOf(p) {
  const style = { ...STYLE[p.kind], renderer, interactive: false, className: `measure-shape measure-${p.kind}` };
  const state = windowOf(p);
  if (state === "pending" || state === "expired") {
    style.opacity = DIM;
    style.fillOpacity = (style.fillOpacity ?? 0.2) * DIM;
  }
  return style;
}

function latLngsOf(coordinates) {
  return coordinates.map(([lon, lat]) => [lat, lon]);
}

function shapeOf(feature, options) {
  const g = feature.geometry;
  if (g.type === "Point") return L.circle([g.coordinates[1], g.coordinates[0]], { ...options, radius: feature.properties.radius_m || 0 });
  if (g.type === "LineString") return L.polyline(latLngsOf(g.coordinates), options);
  return L.polygon(g.coordinates.map(latLngsOf), options);
}

// A rough centroid, for a label: the mean of the outer ring's corners.
function centreOf(feature) {
  const g = feature.geometry;
  if (g.type === "Point") return [g.coordinates[1], g.coordinates[0]];
  const ring = g.type === "Polygon" ? g.coordinates[0].slice(0, -1) : g.coordinates;
  const lat = ring.reduce((s, c) => s + c[1], 0) / ring.length;
  const lon = ring.reduce((s, c) => s + c[0], 0) / ring.length;
  return [lat, lon];
}

function labelMarker(latlng, lines, where, classes) {
  const box = document.createElement("div");
  box.className = `measure-label measure-label-${where} ${classes}`;
  lines.forEach((text, i) => {
    const line = document.createElement("div");
    line.textContent = text;
    if (i === 0) line.className = "measure-label-title";
    box.append(line);
  });
  const icon = L.divIcon({ className: "measure-label-anchor", html: box, iconSize: [0, 0] });
  return L.marker(latlng, { icon, interactive: false, keyboard: false, pane: "measure-labels", snapIgnore: true, pmIgnore: true });
}

// The no-strike marker: a red cross for medical sites, the blue shield of the 1954 Hague
// Convention for cultural property, otherwise a protected-site diamond.
function nslIcon(category) {
  const c = (category || "").toLowerCase();
  let body;
  if (/hospital|medic|clinic|aid|ambulan/.test(c)) {
    body = '<rect x="1" y="1" width="20" height="20" fill="#fff" stroke="#000" stroke-width="1.5"/><path d="M8 4h6v4h4v6h-4v4H8v-4H4V8h4z" fill="#d00"/>';
  } else if (/cultur|church|mosque|temple|relig|museum|monument|school|heritage/.test(c)) {
    body = '<path d="M11 1 L21 4 C21 13 17 18 11 21 C5 18 1 13 1 4 Z" fill="#fff" stroke="#000" stroke-width="1.5"/><path d="M11 1 L11 11 L1 4 Z M11 11 L21 4 C21 13 17 18 11 21 Z" fill="#1f4fbf"/>';
  } else {
    body = '<path d="M11 1 L21 11 L11 21 L1 11 Z" fill="#fff" stroke="#000" stroke-width="1.5"/><text x="11" y="14.5" text-anchor="middle" font-size="9" font-weight="bold" font-family="DejaVu Sans, sans-serif">N</text>';
  }
  return L.divIcon({
    className: "measure-nsl-icon",
    html: `<svg width="22" height="22" viewBox="0 0 22 22">${body}</svg>`,
    iconSize: [22, 22],
    iconAnchor: [11, 11],
  });
}

function labelsOf(feature) {
  const p = feature.properties;
  const state = windowOf(p);
  const dim = state === "pending" || state === "expired" ? "dim" : "";
  const lines = [titleOf(p)];
  if (p.kind === "NSL" && p.category) lines.push(p.category);
  const times = timesOf(p);
  if (times) lines.push(times);
  if (state !== "effective") lines.push(t(`measure.state.${state}`));
  const mark = (latlng, text, where) => labelMarker(latlng, text, where, `measure-label-kind-${p.kind} ${dim}`);
  const g = feature.geometry;
  if (g.type === "LineString") {
    const first = [g.coordinates[0][1], g.coordinates[0][0]];
    const lastAt = g.coordinates[g.coordinates.length - 1];
    if (p.kind === "BOUNDARY") {
      const mid = Math.floor((g.coordinates.length - 1) / 2);
      const [a, b] = [g.coordinates[mid], g.coordinates[mid + 1]];
      return [mark([(a[1] + b[1]) / 2, (a[0] + b[0]) / 2], lines, "line")];
    }
    // Fire-support lines carry their code at each end, and the name by it.
    return [mark(first, lines, "line"), mark([lastAt[1], lastAt[0]], lines.slice(0, 1), "line")];
  }
  const labels = [mark(centreOf(feature), lines, p.kind === "NSL" ? "below" : "centre")];
  if (p.kind === "NSL") {
    labels.push(L.marker(centreOf(feature), {
      icon: nslIcon(p.category), interactive: false, keyboard: false, pane: "measure-labels",
      snapIgnore: true, pmIgnore: true, opacity: dim ? DIM : 1,
    }));
  }
  return labels;
}

function render(feature) {
  const id = idOf(feature);
  drop(id);
  const entry = { id, feature, group: L.layerGroup(), shape: null };
  if (feature.geometry) {
    entry.shape = shapeOf(feature, styleOf(feature.properties));
    entry.group.addLayer(entry.shape);
    for (const label of labelsOf(feature)) entry.group.addLayer(label);
  }
  entries.set(id, entry);
  if (editor.id !== id) overlay.addLayer(entry.group); // the one being edited shows as the draft
  if (entry.shape) entry.shape.getElement()?.setAttribute("data-measure-id", id);
}

function drop(id) {
  const entry = entries.get(id);
  if (!entry) return;
  overlay.removeLayer(entry.group);
  entries.delete(id);
}

function apply(feature) {
  if (ctx.past) return; // a replay is shown; going live reloads the measures
  const id = idOf(feature);
  if (feature.geometry === null && feature.properties?.status === "cancelled") {
    if (editor.id === id) closeEditor(); // cancelled by someone else while being edited here
    drop(id);
  } else {
    render(feature);
  }
  showList();
}

// The measures of a past picture (GET /picture?at=), until the replay returns to live.
function showPast(collection) {
  for (const id of [...entries.keys()]) drop(id);
  for (const feature of collection.features) render(feature);
  showList();
}

async function load() {
  const collection = await ctx.api.get("/measures");
  for (const id of [...entries.keys()]) drop(id);
  for (const feature of collection.features) render(feature);
  if (editor.id && !entries.has(editor.id)) closeEditor(); // cancelled while the stream was away
  showList();
}

// -- finding the measure under a click --------------------------------------------------------

function inRing(lat, lon, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function segmentDistance(p, a, b) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const k = dx || dy ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / (dx * dx + dy * dy))) : 0;
  return Math.hypot(p.x - (a.x + k * dx), p.y - (a.y + k * dy));
}

// The measure under a map click: a line within a few pixels, else the smallest area holding it.
function hit(latlng) {
  const map = ctx.map;
  const point = map.latLngToContainerPoint(latlng);
  let best = null;
  let bestSize = Infinity;
  for (const entry of entries.values()) {
    const g = entry.feature.geometry;
    if (!g || entry.id === editor.id) continue;
    let size = null;
    if (g.type === "LineString") {
      const pts = g.coordinates.map(([lon, lat]) => map.latLngToContainerPoint([lat, lon]));
      if (pts.some((a, i) => i > 0 && segmentDistance(point, pts[i - 1], a) <= LINE_HIT_PX)) size = 0;
    } else if (g.type === "Point") {
      const centre = L.latLng(g.coordinates[1], g.coordinates[0]);
      const r = entry.feature.properties.radius_m || 0;
      if (map.distance(centre, latlng) <= r || point.distanceTo(map.latLngToContainerPoint(centre)) <= 11) size = r * r;
    } else if (inRing(latlng.lat, wrap(latlng.lng), g.coordinates[0])) {
      const b = L.latLngBounds(latLngsOf(g.coordinates[0]));
      size = map.distance(b.getSouthWest(), b.getNorthEast()) ** 2;
    }
    if (size !== null && size < bestSize) {
      best = entry.id;
      bestSize = size;
    }
  }
  return best;
}

function popupOf(id) {
  const p = entries.get(id).feature.properties;
  const g = entries.get(id).feature.geometry;
  const box = document.createElement("div");
  box.className = "measure-popup";
  box.dataset.measureId = id;
  const title = document.createElement("h3");
  title.textContent = titleOf(p);
  const list = document.createElement("dl");
  const row = (key, value) => {
    if (value === null || value === undefined || value === "") return;
    const dt = document.createElement("dt");
    dt.textContent = t(key);
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  };
  row("measure.p.kind", `${p.kind} — ${t(`measure.kind.${p.kind}`)}`);
  row("measure.p.name", p.name);
  row("measure.p.id", id);
  row("measure.p.hq", p.establishing_hq);
  row("measure.p.from", p.effective_from);
  row("measure.p.to", p.effective_to);
  row("measure.p.window", t(`measure.state.${windowOf(p)}`));
  row("measure.p.status", t(`measure.status.${p.status}`));
  row("measure.p.category", p.category);
  row("measure.p.side", p.friendly_side && t(`measure.side.${p.friendly_side}`));
  row("measure.p.radius", p.radius_m === undefined ? null : formatDistance(p.radius_m));
  row("measure.p.unit", p.unit);
  row("measure.p.originator", p.originator);
  if (g) {
    const n = g.type === "Polygon" ? g.coordinates[0].length - 1 : g.type === "LineString" ? g.coordinates.length : 1;
    row("measure.p.geometry", t(`measure.geometry.${g.type}`, { n }));
    const [lat, lon] = centreOf(entries.get(id).feature);
    row("measure.p.centre", `${mgrsOf(lat, lon)} · ${latLonText(lat, lon)}`);
  }
  box.append(title, list);
  if (ctx.can("measures")) {
    const edit = document.createElement("button");
    edit.type = "button";
    edit.dataset.measureEdit = id;
    edit.textContent = t("measure.edit");
    edit.addEventListener("click", () => {
      ctx.map.closePopup();
      startEdit(id);
    });
    box.append(edit);
  }
  return box;
}

function openPopup(id, latlng) {
  L.popup({ maxWidth: 380 }).setLatLng(latlng).setContent(popupOf(id)).openOn(ctx.map);
}

function flyTo(id) {
  const entry = entries.get(id);
  if (!entry) return;
  if (!entry.feature.geometry) {
    // A unit-scoped check fire: go to the unit's track, if it has one.
    const track = entry.feature.properties.unit && ctx.tracks.get(entry.feature.properties.unit);
    if (track) ctx.map.setView([track.lat, track.lon], Math.max(ctx.map.getZoom(), 13));
    return;
  }
  const shape = entry.shape;
  const bounds = shape instanceof L.Circle ? L.latLng(shape.getLatLng()).toBounds(Math.max(shape.getRadius() * 2, 600)) : shape.getBounds();
  ctx.map.fitBounds(bounds.pad(0.3), { maxZoom: 15, animate: false });
  openPopup(id, [bounds.getNorth(), centreOf(entry.feature)[1]]); // above it, not over it
}

// -- the side panel -----------------------------------------------------------------------------

function kindOrder(a, b) {
  const k = KINDS.indexOf(a.feature.properties.kind) - KINDS.indexOf(b.feature.properties.kind);
  return k || (a.feature.properties.name || "").localeCompare(b.feature.properties.name || "");
}

function showList() {
  const rows = [...entries.values()].sort(kindOrder).map((entry) => {
    const p = entry.feature.properties;
    const tr = document.createElement("tr");
    tr.dataset.measureId = entry.id;
    const state = windowOf(p);
    if (state === "pending" || state === "expired") tr.className = "dim";
    const cells = [p.kind, p.name || "—", [timesOf(p), state === "effective" ? "" : t(`measure.state.${state}`)].filter(Boolean).join(" · ") || t("measure.always")];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.firstChild.className = "measure-kind";
    if (ctx.can("measures")) {
      const td = document.createElement("td");
      const edit = document.createElement("button");
      edit.type = "button";
      edit.dataset.measureEdit = entry.id;
      edit.textContent = t("measure.edit");
      edit.addEventListener("click", (event) => {
        event.stopPropagation();
        startEdit(entry.id);
      });
      td.append(edit);
      tr.append(td);
    }
    tr.addEventListener("click", () => flyTo(entry.id));
    return tr;
  });
  ui.rows.replaceChildren(...rows);
  ui.count.textContent = t("measures.count", { n: entries.size });
}

const PANEL = `
  <section id="measure-editor" class="measure-editor" data-state="idle" hidden>
    <h3 id="measure-editor-title"></h3>
    <label><span data-i18n="measure.field.kind"></span><select id="measure-kind"></select></label>
    <label><span data-i18n="measure.field.name"></span><input id="measure-name" autocomplete="off"></label>
    <label><span data-i18n="measure.field.hq"></span><input id="measure-hq" autocomplete="off"></label>
    <div class="row">
      <label><span data-i18n="measure.field.from"></span><input id="measure-from" type="datetime-local"></label>
      <label><span data-i18n="measure.field.to"></span><input id="measure-to" type="datetime-local"></label>
    </div>
    <label id="measure-category-row"><span data-i18n="measure.field.category"></span>
      <input id="measure-category" list="measure-categories" autocomplete="off"></label>
    <datalist id="measure-categories">
      <option value="hospital"></option><option value="school"></option><option value="place of worship"></option>
      <option value="cultural property"></option><option value="water works"></option><option value="humanitarian convoy"></option>
    </datalist>
    <label id="measure-side-row"><span data-i18n="measure.field.side"></span>
      <select id="measure-side">
        <option value="" data-i18n="measure.side.none"></option>
        <option value="left" data-i18n="measure.side.left"></option>
        <option value="right" data-i18n="measure.side.right"></option>
      </select></label>
    <label id="measure-radius-row"><span data-i18n="measure.field.radius"></span>
      <input id="measure-radius" type="number" min="0" step="1"></label>
    <div class="row measure-shapes" id="measure-shapes">
      <span data-i18n="measure.draw"></span>
      <button type="button" data-draw="Polygon" id="measure-draw-polygon" data-i18n="measure.shape.Polygon"></button>
      <button type="button" data-draw="Rectangle" id="measure-draw-rectangle" data-i18n="measure.shape.Rectangle"></button>
      <button type="button" data-draw="Circle" id="measure-draw-circle" data-i18n="measure.shape.Circle"></button>
      <button type="button" data-draw="Line" id="measure-draw-line" data-i18n="measure.shape.Line"></button>
      <button type="button" id="measure-finish" data-i18n="measure.finish"></button>
    </div>
    <p id="measure-hint" class="measure-hint"></p>
    <div class="row">
      <button type="button" class="primary" id="measure-save" data-i18n="measure.save"></button>
      <button type="button" id="measure-cancel" data-i18n="measure.cancel"></button>
      <button type="button" id="measure-delete" data-i18n="measure.delete"></button>
      <button type="button" id="measure-delete-confirm" class="danger"></button>
    </div>
    <p id="measure-error" class="error" role="alert"></p>
    <p id="measure-status" class="measure-status" role="status"></p>
  </section>
  <h3 id="measure-count"></h3>
  <table class="list" id="measure-list">
    <thead><tr><th data-i18n="measure.col.kind"></th><th data-i18n="measure.col.name"></th>
      <th data-i18n="measure.col.window"></th></tr></thead>
    <tbody></tbody>
  </table>`;

const FIELDS = {
  "properties.kind": "kind", "properties.name": "name", "properties.establishing_hq": "hq",
  "properties.effective_from": "from", "properties.effective_to": "to", "properties.category": "category",
  "properties.friendly_side": "side", "properties.radius_m": "radius",
};

function buildPanel() {
  const element = document.createElement("div");
  element.innerHTML = PANEL;
  const $ = (id) => element.querySelector(`#${id}`);
  Object.assign(ui, {
    editor: $("measure-editor"), title: $("measure-editor-title"), kind: $("measure-kind"), name: $("measure-name"),
    hq: $("measure-hq"), from: $("measure-from"), to: $("measure-to"), category: $("measure-category"),
    side: $("measure-side"), radius: $("measure-radius"), categoryRow: $("measure-category-row"),
    sideRow: $("measure-side-row"), radiusRow: $("measure-radius-row"), shapes: $("measure-shapes"),
    finish: $("measure-finish"), hint: $("measure-hint"), save: $("measure-save"), cancel: $("measure-cancel"),
    delete: $("measure-delete"), confirm: $("measure-delete-confirm"), error: $("measure-error"),
    status: $("measure-status"), count: $("measure-count"), rows: element.querySelector("#measure-list tbody"),
  });
  kindOptions();
  translate(element);
  if (ctx.can("measures")) {
    ui.editor.hidden = false;
    for (const button of element.querySelectorAll("[data-draw]")) {
      button.addEventListener("click", () => startDraw(button.dataset.draw));
    }
    ui.kind.addEventListener("change", updateEditor);
    ui.radius.addEventListener("input", () => {
      const r = Number(ui.radius.value);
      if (editor.draft instanceof L.Circle && ui.radius.value !== "" && r >= 0) editor.draft.setRadius(r);
    });
    // Geoman's own toolbar finishes a shape the same way.
    ui.finish.addEventListener("click", () => editor.drawing && ctx.map.pm.Draw[editor.drawing]._finishShape());
    ui.save.addEventListener("click", save);
    ui.cancel.addEventListener("click", () => {
      closeEditor();
      say("");
    });
    ui.delete.addEventListener("click", () => {
      editor.confirming = true;
      updateEditor();
    });
    ui.confirm.addEventListener("click", remove);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && editor.drawing) ctx.map.pm.disableDraw();
    });
    resetForm();
  }
  return element;
}

function kindOptions() {
  const kept = ui.kind.value || "NFA";
  ui.kind.replaceChildren(...KINDS.map((kind) => new Option(`${kind} — ${t(`measure.kind.${kind}`)}`, kind)));
  ui.kind.value = kept;
}

function fits(kind, layer) {
  const line = layer instanceof L.Polyline && !(layer instanceof L.Polygon);
  return LINE_KINDS.has(kind) === line;
}

function updateEditor() {
  if (!ctx.can("measures")) return;
  const kind = ui.kind.value;
  const entry = editor.id && entries.get(editor.id);
  ui.title.textContent = entry ? t("measure.editing", { title: titleOf(entry.feature.properties) }) : t("measure.new");
  for (const button of ui.shapes.querySelectorAll("[data-draw]")) {
    const line = button.dataset.draw === "Line";
    button.disabled = LINE_KINDS.has(kind) !== line;
    button.setAttribute("aria-pressed", String(editor.drawing === button.dataset.draw));
  }
  ui.finish.hidden = !(editor.drawing === "Polygon" || editor.drawing === "Line");
  ui.categoryRow.hidden = kind !== "NSL";
  ui.sideRow.hidden = !LINE_KINDS.has(kind);
  ui.radiusRow.hidden = !(editor.draft instanceof L.Circle || editor.drawing === "Circle");
  const fitting = editor.draft && fits(kind, editor.draft);
  ui.save.disabled = !fitting || editor.drawing !== null;
  ui.delete.hidden = !editor.id || editor.confirming;
  ui.confirm.hidden = !editor.id || !editor.confirming;
  if (entry) ui.confirm.textContent = t("measure.delete_confirm", { title: titleOf(entry.feature.properties) });
  let hint = "measure.hint.pick";
  if (editor.drawing) hint = `measure.hint.${editor.drawing}`;
  else if (editor.draft) hint = fitting ? "measure.hint.draft" : "measure.hint.misfit";
  ui.hint.textContent = t(hint, { kind });
  ui.editor.dataset.state = editor.drawing ? "drawing" : editor.draft ? "draft" : "idle";
  ui.editor.dataset.mode = editor.id ? "edit" : "new";
}

function say(status, error = "", field = null) {
  ui.status.textContent = status;
  ui.error.textContent = error;
  for (const input of ui.editor.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const name = field && (FIELDS[field] || (field.startsWith("geometry") ? "shapes" : null));
  if (name) ui[name].setAttribute("aria-invalid", "true");
}

function resetForm() {
  for (const name of ["name", "hq", "from", "to", "category", "radius"]) ui[name].value = "";
  ui.side.value = "";
  editor.confirming = false;
  updateEditor();
}

// datetime-local fields are read and written as UTC (the labels say so).
const toInput = (iso) => (iso ? new Date(iso).toISOString().slice(0, 16) : "");

function fromInput(input, field) {
  if (!input.value) return null;
  const d = new Date(`${input.value}Z`);
  if (Number.isNaN(d.getTime())) throw new ApiError(422, { error: `${field}: ${t("measure.error.time")}`, field });
  return d.toISOString().replace(/\.000Z$/, "Z");
}

// -- drawing and editing (planners) -----------------------------------------------------------

function startDraw(shape) {
  if (editor.drawing) ctx.map.pm.disableDraw();
  clearDraft();
  ctx.mapTool = "draw";
  editor.drawing = shape;
  ctx.map.pm.enableDraw(shape, {
    snappable: false, // a click lands where it is clicked, not on a nearby grid line or border
    tooltips: true,
    allowSelfIntersection: false,
    continueDrawing: false,
    templineStyle: DRAFT,
    hintlineStyle: { ...DRAFT, dashArray: "2 6" },
    pathOptions: DRAFT,
  });
  say("");
  updateEditor();
}

function setDraft(layer) {
  editor.draft = layer;
  layer.addTo(ctx.map);
  layer.pm.enable({ allowSelfIntersection: false, snappable: false });
  const radius = () => {
    if (layer instanceof L.Circle) ui.radius.value = String(Math.round(layer.getRadius()));
  };
  layer.on("pm:edit", radius);
  radius();
  ctx.mapTool = "draw";
  updateEditor();
}

// Gives map clicks back, unless another tool has taken them since.
function releaseMap() {
  if (ctx.mapTool === "draw") ctx.mapTool = null;
}

function clearDraft() {
  if (!editor.draft) return;
  editor.draft.pm.disable();
  ctx.map.removeLayer(editor.draft);
  editor.draft = null;
}

function draftOf(layer, shape) {
  const options = { ...DRAFT, pane: "measure-draft" };
  if (shape === "Circle") return L.circle(layer.getLatLng(), { ...options, radius: Math.round(layer.getRadius()) });
  if (shape === "Line") return L.polyline(layer.getLatLngs(), options);
  return L.polygon(layer.getLatLngs(), options);
}

function startEdit(id) {
  const entry = entries.get(id);
  if (!entry) return;
  closeEditor();
  ctx.panels.show("measures");
  const p = entry.feature.properties;
  editor.id = id;
  ui.kind.value = p.kind;
  ui.name.value = p.name || "";
  ui.hq.value = p.establishing_hq || "";
  ui.from.value = toInput(p.effective_from);
  ui.to.value = toInput(p.effective_to);
  ui.category.value = p.category || "";
  ui.side.value = p.friendly_side || "";
  ui.radius.value = p.radius_m === undefined ? "" : String(p.radius_m);
  overlay.removeLayer(entry.group);
  ctx.mapTool = "draw";
  if (entry.feature.geometry) setDraft(shapeOf(entry.feature, { ...DRAFT, pane: "measure-draft" }));
  say("");
  updateEditor();
  ui.name.focus();
}

function closeEditor() {
  if (editor.drawing) ctx.map.pm.disableDraw();
  editor.drawing = null;
  clearDraft();
  const entry = editor.id && entries.get(editor.id);
  editor.id = null;
  if (entry) overlay.addLayer(entry.group);
  releaseMap();
  resetForm();
}

const round6 = (v) => Math.round(v * 1e6) / 1e6;
const position = (ll) => [round6(wrap(ll.lng)), round6(ll.lat)];

function geometryOfDraft() {
  const draft = editor.draft;
  if (draft instanceof L.Circle) return { type: "Point", coordinates: position(draft.getLatLng()) };
  if (draft instanceof L.Polygon) {
    const ring = draft.getLatLngs()[0].map(position);
    return { type: "Polygon", coordinates: [[...ring, ring[0]]] };
  }
  return { type: "LineString", coordinates: draft.getLatLngs().map(position) };
}

function featureOfForm() {
  const kind = ui.kind.value;
  const before = editor.id ? entries.get(editor.id).feature.properties : {};
  // What the form does not show (status, unit, originator) is kept; window_invalid is the
  // server's to work out again from the times sent.
  const { window_invalid: _, radius_m: __, ...kept } = before;
  const properties = {
    ...kept,
    kind,
    name: ui.name.value.trim(),
    establishing_hq: ui.hq.value.trim() || null,
    effective_from: fromInput(ui.from, "properties.effective_from"),
    effective_to: fromInput(ui.to, "properties.effective_to"),
    category: kind === "NSL" ? ui.category.value.trim() || null : null,
    friendly_side: LINE_KINDS.has(kind) ? ui.side.value || null : null,
  };
  if (properties.effective_from && properties.effective_to && properties.effective_to < properties.effective_from) {
    throw new ApiError(422, { error: t("measure.error.window"), field: "properties.effective_to" });
  }
  const feature = { type: "Feature", properties, geometry: geometryOfDraft() };
  if (feature.geometry?.type === "Point") {
    properties.radius_m = ui.radius.value === "" ? editor.draft.getRadius() : Number(ui.radius.value);
  }
  if (editor.id) {
    feature.id = editor.id;
    properties.id = editor.id;
  }
  return feature;
}

async function save() {
  let feature;
  try {
    feature = featureOfForm();
    const { id } = await ctx.api.post("/measures", feature);
    const saved = await ctx.api.get(`/measures/${encodeURIComponent(id)}`);
    closeEditor();
    apply(saved); // the stream brings the same; this does not wait for it
    say(t("measure.saved", { title: titleOf(saved.properties) }));
  } catch (failure) {
    const message = failure instanceof ApiError ? failure.message : t("error.generic", { error: failure.message });
    say("", message, failure.field);
  }
}

async function remove() {
  const id = editor.id;
  const title = titleOf(entries.get(id).feature.properties);
  try {
    await ctx.api.del(`/measures/${encodeURIComponent(id)}`);
    closeEditor();
    drop(id);
    showList();
    say(t("measure.deleted", { title }));
  } catch (failure) {
    editor.confirming = false;
    updateEditor();
    say("", failure.message, failure.field);
  }
}

// -- install ------------------------------------------------------------------------------------

const geomanLanguage = (lang) => (lang === "uk" ? "ua" : lang);

// leaflet-geoman arrives after the map was made, so its init hook never ran on this map: the
// map gets its handler here as the hook would have given it. Layers made from now on (drafts,
// shapes being edited) get theirs from geoman's own hooks.
async function loadGeoman(map) {
  await Promise.all([script("geoman/leaflet-geoman.js"), stylesheet("geoman/leaflet-geoman.css")]);
  map.pm = new L.PM.Map(map);
  map.pm.setGlobalOptions({});
  map.pm.setLang(geomanLanguage(language()));
}

export async function install(context) {
  ctx = context;
  const map = ctx.map;
  map.createPane("measure-labels").style.zIndex = 420;
  map.getPane("measure-labels").style.pointerEvents = "none";
  map.createPane("measure-draft").style.zIndex = 440;
  renderer = L.svg({ pane: "measures", padding: 0.5 });
  map.addLayer(renderer);
  addHatches();
  overlay = L.layerGroup().addTo(map);
  const element = buildPanel();
  ctx.panels.add({ id: "measures", title: "panel.measures", element });
  ctx.measures = {
    ids: () => [...entries.keys()],
    get: (id) => entries.get(id)?.feature,
    all: () => [...entries.values()].map((entry) => entry.feature),
    hit: (latlng) => hit(L.latLng(latlng)),
    edit: startEdit,
    editing: () => editor.id,
    showPast,
    live: load,
  };
  const labelsShown = () => map.getPane("measure-labels").classList.toggle("measure-labels-off", map.getZoom() < LABELS_FROM_ZOOM);
  map.on("zoomend", labelsShown);
  labelsShown();
  map.on("pm:create", (event) => {
    if (!editor.drawing) return; // another module's drawing
    map.removeLayer(event.layer); // geoman put it in the overlay pane; the draft has its own
    setDraft(draftOf(event.layer, event.shape));
  });
  map.on("pm:drawend", () => {
    if (!editor.drawing) return;
    editor.drawing = null;
    if (!editor.draft && editor.id === null) releaseMap();
    updateEditor();
  });
  map.on("click", (event) => {
    if (ctx.mapTool || ctx.past || ctx.tracks.hit(event.containerPoint)) return;
    const id = hit(event.latlng);
    if (id) openPopup(id, event.latlng);
  });
  // A planner's drawing tools load alongside the measures; install ends when both are in.
  await Promise.all([load(), ctx.can("measures") ? loadGeoman(map) : null]);
  ctx.bus.on("measure", apply);
  ctx.bus.on("resync", () => (ctx.past ? null : load())); // going live reloads them
  setInterval(() => {
    for (const entry of [...entries.values()]) render(entry.feature);
    showList();
  }, RESTYLE_MS);
  onLanguage((lang) => {
    if (map.pm) map.pm.setLang(geomanLanguage(lang));
    kindOptions();
    for (const entry of [...entries.values()]) render(entry.feature);
    showList();
    updateEditor();
  });
}

registerStrings({
  en: {
    "panel.measures": "Measures",
    "measures.count": "Measures: {n}",
    "measure.kind.NFA": "no-fire area", "measure.kind.RFA": "restricted fire area",
    "measure.kind.FFA": "free-fire area", "measure.kind.ACA": "airspace coordination area",
    "measure.kind.KILLBOX": "kill box", "measure.kind.RFL": "restrictive fire line",
    "measure.kind.FSCL": "fire support coordination line", "measure.kind.CFL": "coordinated fire line",
    "measure.kind.BOUNDARY": "boundary", "measure.kind.NSL": "no-strike list (protected site)",
    "measure.kind.RTL": "restricted target list", "measure.kind.CHECKFIRE": "check fire",
    "measure.col.kind": "Kind", "measure.col.name": "Name", "measure.col.window": "Effective (UTC)",
    "measure.always": "no time limit",
    "measure.from_t": "from {t}", "measure.until_t": "until {t}",
    "measure.state.effective": "in force", "measure.state.pending": "not yet in force",
    "measure.state.expired": "expired", "measure.state.unreadable": "window unreadable: treated as in force",
    "measure.status.active": "active", "measure.status.planned": "planned", "measure.status.cancelled": "cancelled",
    "measure.side.none": "—", "measure.side.left": "left of the line's direction",
    "measure.side.right": "right of the line's direction",
    "measure.p.kind": "Kind", "measure.p.name": "Name", "measure.p.id": "Id", "measure.p.hq": "Establishing HQ",
    "measure.p.from": "Effective from", "measure.p.to": "Effective to", "measure.p.window": "Now",
    "measure.p.status": "Status", "measure.p.category": "Category", "measure.p.side": "Friendly side",
    "measure.p.radius": "Radius", "measure.p.unit": "Unit", "measure.p.originator": "Originator",
    "measure.p.geometry": "Shape", "measure.p.centre": "Centre",
    "measure.geometry.Point": "circle", "measure.geometry.Polygon": "area, {n} corners",
    "measure.geometry.LineString": "line, {n} points",
    "measure.new": "New measure", "measure.editing": "Editing {title}", "measure.edit": "Edit",
    "measure.field.kind": "Kind", "measure.field.name": "Name", "measure.field.hq": "Establishing HQ",
    "measure.field.from": "Effective from (UTC)", "measure.field.to": "Effective to (UTC)",
    "measure.field.category": "Category (what is protected)", "measure.field.side": "Friendly side",
    "measure.field.radius": "Radius, m",
    "measure.draw": "Draw:", "measure.shape.Polygon": "Polygon", "measure.shape.Rectangle": "Rectangle",
    "measure.shape.Circle": "Circle", "measure.shape.Line": "Line", "measure.finish": "Finish shape",
    "measure.save": "Save", "measure.cancel": "Cancel", "measure.delete": "Delete",
    "measure.delete_confirm": "Confirm: delete {title}",
    "measure.hint.pick": "Pick the kind and fill in the fields, then choose a shape and draw it on the map.",
    "measure.hint.Polygon": "Click the corners on the map; click the first corner again (or Finish shape) to close the area.",
    "measure.hint.Rectangle": "Click one corner on the map, then the opposite corner.",
    "measure.hint.Circle": "Click the centre on the map, then click at the radius; the radius can be typed after.",
    "measure.hint.Line": "Click the points of the line on the map; click the last point again (or Finish shape) to end it.",
    "measure.hint.draft": "Drag the vertices to adjust the shape, then Save.",
    "measure.hint.misfit": "This shape does not fit a {kind}: draw it again.",
    "measure.saved": "Saved: {title}", "measure.deleted": "Deleted: {title}",
    "measure.error.time": "not a valid time", "measure.error.window": "properties.effective_to: is before effective from",
  },
  ru: {
    "panel.measures": "Меры координации",
    "measures.count": "Мер координации: {n}",
    "measure.kind.NFA": "зона запрета огня", "measure.kind.RFA": "зона ограничения огня",
    "measure.kind.FFA": "зона свободного огня", "measure.kind.ACA": "зона координации воздушного пространства",
    "measure.kind.KILLBOX": "зона поражения (kill box)", "measure.kind.RFL": "рубеж ограничения огня",
    "measure.kind.FSCL": "рубеж координации огневой поддержки", "measure.kind.CFL": "рубеж согласованного огня",
    "measure.kind.BOUNDARY": "разграничительная линия", "measure.kind.NSL": "объект, запрещённый к поражению",
    "measure.kind.RTL": "цель с ограничением на поражение", "measure.kind.CHECKFIRE": "прекратить огонь",
    "measure.col.kind": "Вид", "measure.col.name": "Наименование", "measure.col.window": "Действует (UTC)",
    "measure.always": "без ограничения по времени",
    "measure.from_t": "с {t}", "measure.until_t": "до {t}",
    "measure.state.effective": "действует", "measure.state.pending": "ещё не действует",
    "measure.state.expired": "срок истёк", "measure.state.unreadable": "срок не читается: считается действующим",
    "measure.status.active": "действует", "measure.status.planned": "планируется", "measure.status.cancelled": "отменена",
    "measure.side.none": "—", "measure.side.left": "слева по направлению линии",
    "measure.side.right": "справа по направлению линии",
    "measure.p.kind": "Вид", "measure.p.name": "Наименование", "measure.p.id": "Идентификатор",
    "measure.p.hq": "Установивший штаб", "measure.p.from": "Действует с", "measure.p.to": "Действует до",
    "measure.p.window": "Сейчас", "measure.p.status": "Статус", "measure.p.category": "Категория",
    "measure.p.side": "Сторона своих войск", "measure.p.radius": "Радиус", "measure.p.unit": "Подразделение",
    "measure.p.originator": "Кем установлена", "measure.p.geometry": "Форма", "measure.p.centre": "Центр",
    "measure.geometry.Point": "круг", "measure.geometry.Polygon": "зона, вершин: {n}",
    "measure.geometry.LineString": "линия, точек: {n}",
    "measure.new": "Новая мера координации", "measure.editing": "Правка: {title}", "measure.edit": "Изменить",
    "measure.field.kind": "Вид", "measure.field.name": "Наименование", "measure.field.hq": "Установивший штаб",
    "measure.field.from": "Действует с (UTC)", "measure.field.to": "Действует до (UTC)",
    "measure.field.category": "Категория (что защищается)", "measure.field.side": "Сторона своих войск",
    "measure.field.radius": "Радиус, м",
    "measure.draw": "Нанести:", "measure.shape.Polygon": "Многоугольник", "measure.shape.Rectangle": "Прямоугольник",
    "measure.shape.Circle": "Круг", "measure.shape.Line": "Линия", "measure.finish": "Завершить фигуру",
    "measure.save": "Сохранить", "measure.cancel": "Отмена", "measure.delete": "Удалить",
    "measure.delete_confirm": "Подтвердите удаление: {title}",
    "measure.hint.pick": "Выберите вид и заполните поля, затем выберите фигуру и нанесите её на карту.",
    "measure.hint.Polygon": "Отметьте вершины на карте; щёлкните первую вершину ещё раз (или «Завершить фигуру»), чтобы замкнуть зону.",
    "measure.hint.Rectangle": "Отметьте на карте один угол, затем противоположный.",
    "measure.hint.Circle": "Отметьте центр на карте, затем щёлкните на расстоянии радиуса; радиус можно ввести потом.",
    "measure.hint.Line": "Отметьте точки линии на карте; щёлкните последнюю точку ещё раз (или «Завершить фигуру»).",
    "measure.hint.draft": "Перетащите вершины, чтобы уточнить фигуру, затем сохраните.",
    "measure.hint.misfit": "Эта фигура не подходит для {kind}: нанесите заново.",
    "measure.saved": "Сохранено: {title}", "measure.deleted": "Удалено: {title}",
    "measure.error.time": "неверное время", "measure.error.window": "properties.effective_to: раньше начала действия",
  },
  uk: {
    "panel.measures": "Заходи координації",
    "measures.count": "Заходів координації: {n}",
    "measure.kind.NFA": "зона заборони вогню", "measure.kind.RFA": "зона обмеження вогню",
    "measure.kind.FFA": "зона вільного вогню", "measure.kind.ACA": "зона координації повітряного простору",
    "measure.kind.KILLBOX": "зона ураження (kill box)", "measure.kind.RFL": "рубіж обмеження вогню",
    "measure.kind.FSCL": "рубіж координації вогневої підтримки", "measure.kind.CFL": "рубіж узгодженого вогню",
    "measure.kind.BOUNDARY": "розмежувальна лінія", "measure.kind.NSL": "об'єкт, заборонений для ураження",
    "measure.kind.RTL": "ціль з обмеженням на ураження", "measure.kind.CHECKFIRE": "припинити вогонь",
    "measure.col.kind": "Вид", "measure.col.name": "Найменування", "measure.col.window": "Діє (UTC)",
    "measure.always": "без обмеження в часі",
    "measure.from_t": "з {t}", "measure.until_t": "до {t}",
    "measure.state.effective": "діє", "measure.state.pending": "ще не діє",
    "measure.state.expired": "термін сплив", "measure.state.unreadable": "термін не читається: вважається чинним",
    "measure.status.active": "діє", "measure.status.planned": "планується", "measure.status.cancelled": "скасовано",
    "measure.side.none": "—", "measure.side.left": "ліворуч за напрямком лінії",
    "measure.side.right": "праворуч за напрямком лінії",
    "measure.p.kind": "Вид", "measure.p.name": "Найменування", "measure.p.id": "Ідентифікатор",
    "measure.p.hq": "Штаб, що встановив", "measure.p.from": "Діє з", "measure.p.to": "Діє до",
    "measure.p.window": "Зараз", "measure.p.status": "Статус", "measure.p.category": "Категорія",
    "measure.p.side": "Сторона своїх військ", "measure.p.radius": "Радіус", "measure.p.unit": "Підрозділ",
    "measure.p.originator": "Ким встановлено", "measure.p.geometry": "Форма", "measure.p.centre": "Центр",
    "measure.geometry.Point": "коло", "measure.geometry.Polygon": "зона, вершин: {n}",
    "measure.geometry.LineString": "лінія, точок: {n}",
    "measure.new": "Новий захід координації", "measure.editing": "Редагування: {title}", "measure.edit": "Змінити",
    "measure.field.kind": "Вид", "measure.field.name": "Найменування", "measure.field.hq": "Штаб, що встановив",
    "measure.field.from": "Діє з (UTC)", "measure.field.to": "Діє до (UTC)",
    "measure.field.category": "Категорія (що захищається)", "measure.field.side": "Сторона своїх військ",
    "measure.field.radius": "Радіус, м",
    "measure.draw": "Нанести:", "measure.shape.Polygon": "Багатокутник", "measure.shape.Rectangle": "Прямокутник",
    "measure.shape.Circle": "Коло", "measure.shape.Line": "Лінія", "measure.finish": "Завершити фігуру",
    "measure.save": "Зберегти", "measure.cancel": "Скасувати", "measure.delete": "Видалити",
    "measure.delete_confirm": "Підтвердьте видалення: {title}",
    "measure.hint.pick": "Оберіть вид і заповніть поля, потім оберіть фігуру та нанесіть її на карту.",
    "measure.hint.Polygon": "Позначте вершини на карті; клацніть першу вершину ще раз (або «Завершити фігуру»), щоб замкнути зону.",
    "measure.hint.Rectangle": "Позначте на карті один кут, потім протилежний.",
    "measure.hint.Circle": "Позначте центр на карті, потім клацніть на відстані радіуса; радіус можна ввести потім.",
    "measure.hint.Line": "Позначте точки лінії на карті; клацніть останню точку ще раз (або «Завершити фігуру»).",
    "measure.hint.draft": "Перетягніть вершини, щоб уточнити фігуру, потім збережіть.",
    "measure.hint.misfit": "Ця фігура не підходить для {kind}: нанесіть знову.",
    "measure.saved": "Збережено: {title}", "measure.deleted": "Видалено: {title}",
    "measure.error.time": "неправильний час", "measure.error.window": "properties.effective_to: раніше початку дії",
  },
  ko: {
    "panel.measures": "화력협조수단",
    "measures.count": "협조수단: {n}",
    "measure.kind.NFA": "사격금지구역", "measure.kind.RFA": "사격제한구역",
    "measure.kind.FFA": "자유사격구역", "measure.kind.ACA": "공역협조구역",
    "measure.kind.KILLBOX": "킬박스", "measure.kind.RFL": "사격제한선",
    "measure.kind.FSCL": "화력지원협조선", "measure.kind.CFL": "협조사격선",
    "measure.kind.BOUNDARY": "전투지경선", "measure.kind.NSL": "타격금지목록 (보호시설)",
    "measure.kind.RTL": "타격제한목록", "measure.kind.CHECKFIRE": "사격중지",
    "measure.col.kind": "종류", "measure.col.name": "명칭", "measure.col.window": "유효 시간 (UTC)",
    "measure.always": "시간 제한 없음",
    "measure.from_t": "{t}부터", "measure.until_t": "{t}까지",
    "measure.state.effective": "유효", "measure.state.pending": "아직 유효하지 않음",
    "measure.state.expired": "만료됨", "measure.state.unreadable": "유효 시간 판독 불가: 유효로 간주",
    "measure.status.active": "유효", "measure.status.planned": "계획", "measure.status.cancelled": "취소됨",
    "measure.side.none": "—", "measure.side.left": "선 진행 방향의 왼쪽",
    "measure.side.right": "선 진행 방향의 오른쪽",
    "measure.p.kind": "종류", "measure.p.name": "명칭", "measure.p.id": "식별자", "measure.p.hq": "설정 부대(본부)",
    "measure.p.from": "유효 시작", "measure.p.to": "유효 종료", "measure.p.window": "현재",
    "measure.p.status": "상태", "measure.p.category": "분류", "measure.p.side": "아군 방향",
    "measure.p.radius": "반경", "measure.p.unit": "부대", "measure.p.originator": "설정자",
    "measure.p.geometry": "형태", "measure.p.centre": "중심",
    "measure.geometry.Point": "원", "measure.geometry.Polygon": "구역, 꼭짓점 {n}개",
    "measure.geometry.LineString": "선, 점 {n}개",
    "measure.new": "새 협조수단", "measure.editing": "편집: {title}", "measure.edit": "편집",
    "measure.field.kind": "종류", "measure.field.name": "명칭", "measure.field.hq": "설정 부대(본부)",
    "measure.field.from": "유효 시작 (UTC)", "measure.field.to": "유효 종료 (UTC)",
    "measure.field.category": "분류 (보호 대상)", "measure.field.side": "아군 방향",
    "measure.field.radius": "반경, m",
    "measure.draw": "작도:", "measure.shape.Polygon": "다각형", "measure.shape.Rectangle": "사각형",
    "measure.shape.Circle": "원", "measure.shape.Line": "선", "measure.finish": "작도 완료",
    "measure.save": "저장", "measure.cancel": "취소", "measure.delete": "삭제",
    "measure.delete_confirm": "삭제 확인: {title}",
    "measure.hint.pick": "종류를 고르고 항목을 입력한 뒤, 형태를 골라 지도에 작도하십시오.",
    "measure.hint.Polygon": "지도에서 꼭짓점을 클릭하고, 첫 꼭짓점을 다시 클릭(또는 「작도 완료」)하여 구역을 닫으십시오.",
    "measure.hint.Rectangle": "지도에서 한 모서리를 클릭한 뒤 맞은편 모서리를 클릭하십시오.",
    "measure.hint.Circle": "지도에서 중심을 클릭한 뒤 반경 위치를 클릭하십시오. 반경은 나중에 입력할 수 있습니다.",
    "measure.hint.Line": "지도에서 선의 점들을 클릭하고, 마지막 점을 다시 클릭(또는 「작도 완료」)하여 끝내십시오.",
    "measure.hint.draft": "꼭짓점을 끌어 형태를 조정한 뒤 저장하십시오.",
    "measure.hint.misfit": "이 형태는 {kind}에 맞지 않습니다. 다시 작도하십시오.",
    "measure.saved": "저장됨: {title}", "measure.deleted": "삭제됨: {title}",
    "measure.error.time": "잘못된 시간", "measure.error.window": "properties.effective_to: 유효 시작보다 이릅니다",
  },
});
