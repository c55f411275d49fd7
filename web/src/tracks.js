// Friendly and other units on the map: MIL-STD-2525 symbols (milsymbol) with callsigns and the
// uncertainty circle at its current radius, drawn on one canvas so thousands of tracks stay
// smooth. Tracks age in the browser exactly as on the server (radius growth and the stale and
// lost times come with each track), and stale and lost ones look it: a dashed frame, a dashed
// or dotted circle, and faded when lost. A click on a symbol opens the unit's panel.
import { resetCanvas } from "./canvas.js";
import { formatDistance, latLonText, metresPerPixel, mgrsOf } from "./geo.js";
import { onLanguage, registerStrings, t } from "./i18n.js";
import { script } from "./vendor.js";

const AFFILIATION = {
  friend: "F", "assumed-friend": "A", neutral: "N", unknown: "U", pending: "P", suspect: "S", hostile: "H",
};
// 2525C function ids: by equipment family where the registry knows it, else by mobility.
const BY_FAMILY = { tor: "UCD---", "2s1": "UCFHE-", "btr-80": "UCIZ--", "t-72": "UCA---", "bm-21": "UCFR--" };
const BY_MOBILITY = {
  dismounted: "UCI---", wheeled: "UCIM--", tracked: "UCIZ--", towed: "UCF---", static: "U-----", unknown: "U-----",
};
const CIRCLE = {
  fresh: { color: "rgba(0, 70, 160, 0.85)", fill: "rgba(0, 90, 200, 0.06)", dash: [] },
  stale: { color: "rgba(200, 100, 0, 0.9)", fill: "rgba(200, 100, 0, 0.05)", dash: [8, 5] },
  lost: { color: "rgba(90, 90, 90, 0.9)", fill: "rgba(90, 90, 90, 0.04)", dash: [2, 4] },
};
const LABELS_UP_TO = 1500; // callsigns drawn when no more tracks than this are in view
const MIN_REDRAW_MS = 200; // a burst of stream updates costs a redraw per 200 ms at most
// While the map is dragged or animated the canvas moves with it, so stream updates redraw it at
// most once a second (a redraw of thousands of tracks stalls frames); moveend redraws at once.
const MOVING_REDRAW_MS = 1000;
const AGE_REDRAW_MS = 5000; // radii grow and states change with time alone
const UNITS_PAGE = 10000; // the API's largest /units page: the registry in one request

const tracks = new Map(); // uid -> {uid, lat, lon, p (Feature properties), at, staleAge, lostAge}
const units = new Map(); // uid -> the registry's unit
const families = new Map(); // equipment id -> lookalike family
const symbols = new Map(); // sidc -> {image, anchor, scale}; stale and lost share one (alpha differs)

function entry(feature) {
  const p = feature.properties;
  const [lon, lat] = feature.geometry.coordinates;
  const observed = Date.parse(p.observed_at);
  return {
    uid: p.uid, lat, lon, p, at: performance.now(),
    staleAge: (Date.parse(p.stale_at) - observed) / 1000,
    lostAge: (Date.parse(p.lost_at) - observed) / 1000,
  };
}

// A track of a past picture (the replay) stays as it was at that instant: it does not age.
function sinceServed(track, now) {
  return track.frozen ? 0 : (now - track.at) / 1000;
}

export function ageOf(track, now = performance.now()) {
  return track.p.age_s + sinceServed(track, now);
}

export function radiusOf(track, now = performance.now()) {
  return track.p.radius_m + track.p.growth_mps * sinceServed(track, now);
}

export function stateOf(track, now = performance.now()) {
  const age = ageOf(track, now);
  if (age > track.lostAge) return "lost";
  if (age > track.staleAge) return "stale";
  return "fresh";
}

// 2525C: affiliation letter, status P (present) or A (anticipated: a dashed frame), function id.
function sidcFrom(affiliation, status, fn) {
  return fn === null ? `S${affiliation}A${status}M---------` : `S${affiliation}G${status}${fn}-----`;
}

function sidcOf(track, state) {
  const unit = units.get(track.uid);
  const family = unit && unit.equipment.map((id) => families.get(id)).find((f) => f in BY_FAMILY);
  const affiliation = AFFILIATION[track.p.affiliation] || "U";
  const status = state === "fresh" ? "P" : "A"; // a dashed frame: not known to be there now
  if (track.p.mobility === "air") return sidcFrom(affiliation, status, null);
  return sidcFrom(affiliation, status, family ? BY_FAMILY[family] : BY_MOBILITY[track.p.mobility] || "U-----");
}

function symbolOf(sidc) {
  let symbol = symbols.get(sidc);
  if (!symbol) {
    const made = new ms.Symbol(sidc, { size: 18 });
    symbol = { image: made.asCanvas(), anchor: made.getAnchor(), scale: 1 / (window.devicePixelRatio || 1) };
    symbols.set(sidc, symbol);
  }
  return symbol;
}

// The symbol of every affiliation and mobility, present then anticipated (~1.5 ms each), made
// in idle time until the picture has loaded: the server takes longer to answer than the
// page to load milsymbol, and the first frame then has few symbols left to make.
function warmSymbols(ctx) {
  const sidcs = [];
  for (const status of ["P", "A"]) {
    for (const affiliation of Object.values(AFFILIATION)) {
      for (const fn of [...new Set(Object.values(BY_MOBILITY)), null]) sidcs.push(sidcFrom(affiliation, status, fn));
    }
  }
  const next = (deadline) => {
    while (sidcs.length && deadline.timeRemaining() > 2 && ctx.metrics.tracksLoaded === undefined) {
      symbolOf(sidcs.shift());
    }
    if (sidcs.length && ctx.metrics.tracksLoaded === undefined) requestIdleCallback(next);
  };
  requestIdleCallback(next);
}

const TrackLayer = L.Layer.extend({
  initialize(ctx) {
    this.ctx = ctx;
    this.screen = []; // [x, y, uid] as last drawn, in container pixels, for clicks
    this.pending = false;
    this.lastDraw = 0;
    this.moving = false;
  },
  onAdd(map) {
    this.canvas = L.DomUtil.create("canvas", "track-canvas");
    this.canvas.style.pointerEvents = "none";
    map.getPane("tracks").append(this.canvas);
    map.on("moveend resize", this.redraw, this);
    map.on("movestart", () => (this.moving = true));
    map.on("moveend", () => (this.moving = false));
    map.on("zoomstart", () => (this.canvas.style.visibility = "hidden"));
    map.on("zoomend", () => (this.canvas.style.visibility = ""));
    this.redraw();
  },
  schedule() {
    if (this.pending) return;
    this.pending = true;
    const every = this.moving ? MOVING_REDRAW_MS : MIN_REDRAW_MS;
    const wait = Math.max(0, every - (performance.now() - this.lastDraw));
    setTimeout(() => requestAnimationFrame(() => this.redraw()), wait);
  },
  redraw() {
    this.pending = false;
    this.lastDraw = performance.now();
    const map = this._map;
    const { g, size, pad, origin, ratio, width, height } = resetCanvas(map, this.canvas);
    const now = performance.now();
    const zoom = map.getZoom();
    const offset = map.containerPointToLayerPoint([0, 0]).subtract(origin);
    const drawn = [];
    for (const track of tracks.values()) {
      const point = map.latLngToLayerPoint([track.lat, track.lon]).subtract(origin);
      if (point.x < -50 || point.y < -50 || point.x > width + 50 || point.y > height + 50) continue;
      drawn.push([point, track, stateOf(track, now)]);
    }
    // Circles first, one path per state, so the symbols stay on top and readable.
    for (const [state, style] of Object.entries(CIRCLE)) {
      const path = new Path2D();
      for (const [point, track, s] of drawn) {
        if (s !== state) continue;
        const cap = track.p.display_cap_m || Infinity;
        const r = Math.min(radiusOf(track, now), cap) / metresPerPixel(track.lat, zoom);
        if (r < 3) continue;
        path.moveTo(point.x + r, point.y);
        path.arc(point.x, point.y, r, 0, 2 * Math.PI);
      }
      g.setLineDash(style.dash);
      g.lineWidth = 1.5;
      g.strokeStyle = style.color;
      g.fillStyle = style.fill;
      g.fill(path);
      g.stroke(path);
    }
    g.setLineDash([]);
    const labels = drawn.length <= LABELS_UP_TO;
    g.font = "bold 11px 'DejaVu Sans', sans-serif";
    g.lineWidth = 3;
    g.strokeStyle = "rgba(255, 255, 255, 0.9)";
    g.fillStyle = "#111";
    // Symbols on whole device pixels: a plain copy, about a third cheaper than a resampled one.
    const snap = (v) => Math.round(v * ratio) / ratio;
    this.screen = [];
    for (const [point, track, state] of drawn) {
      const symbol = symbolOf(sidcOf(track, state));
      const w = symbol.image.width * symbol.scale;
      const h = symbol.image.height * symbol.scale;
      const ax = symbol.anchor.x * symbol.scale;
      const ay = symbol.anchor.y * symbol.scale;
      g.globalAlpha = state === "lost" ? 0.45 : 1;
      g.drawImage(symbol.image, snap(point.x - ax), snap(point.y - ay), w, h);
      if (labels) {
        const text = state === "fresh" ? track.p.callsign : `${track.p.callsign} (${t(`state.${state}`)})`;
        g.strokeText(text, point.x + w - ax + 2, point.y + 4);
        g.fillText(text, point.x + w - ax + 2, point.y + 4);
      }
      this.screen.push([point.x - offset.x, point.y - offset.y, track.uid]);
    }
    g.globalAlpha = 1;
    const metrics = this.ctx.metrics;
    metrics.draws = (metrics.draws || 0) + 1;
    metrics.lastDrawMs = performance.now() - now;
    metrics.drawnTracks = drawn.length;
    if (metrics.firstRender === undefined && metrics.tracksLoaded) {
      metrics.firstRender = performance.now();
    }
  },
  // The track under a container point, within 14 px of its symbol.
  hit(point) {
    let best = null;
    let bestD = 14 * 14;
    for (const [x, y, uid] of this.screen) {
      const d = (x - point.x) ** 2 + (y - point.y) ** 2;
      if (d < bestD) {
        bestD = d;
        best = uid;
      }
    }
    return best;
  },
});

function row(list, label, value) {
  const dt = document.createElement("dt");
  dt.textContent = t(label);
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}

async function unitPanel(ctx, uid) {
  const track = tracks.get(uid);
  if (!track) return;
  let unit = units.get(uid) || null;
  try {
    unit = await ctx.api.get(`/units/${encodeURIComponent(uid)}`);
    units.set(uid, unit);
  } catch {
    // not registered: the panel says so
  }
  const now = performance.now();
  const box = document.createElement("div");
  box.className = "unit-panel";
  const title = document.createElement("h3");
  title.textContent = `${track.p.callsign} (${uid})`;
  const list = document.createElement("dl");
  const state = stateOf(track, now);
  row(list, "unit.affiliation", t(`affiliation.${track.p.affiliation}`));
  row(list, "unit.nation", unit ? unit.nation || "—" : t("unit.unregistered"));
  row(list, "unit.language", unit ? unit.language || "—" : "—");
  row(list, "unit.equipment", unit && unit.equipment.length ? unit.equipment.join(", ") : "—");
  row(list, "unit.mobility", t(`mobility.${track.p.mobility}`));
  row(list, "unit.state", t(`state.${state}`));
  row(list, "unit.age", formatAge(ageOf(track, now)));
  row(list, "unit.radius", formatDistance(radiusOf(track, now)));
  row(list, "unit.position", `${mgrsOf(track.lat, track.lon)} · ${latLonText(track.lat, track.lon)}`);
  row(list, "unit.source", track.p.source || "—");
  row(list, "unit.authenticated", track.p.authenticated ? t("yes") : t("unit.not_authenticated"));
  box.append(title, list);
  L.popup({ maxWidth: 360 }).setLatLng([track.lat, track.lon]).setContent(box).openOn(ctx.map);
}

export function formatAge(seconds) {
  if (seconds < 90) return t("age.s", { n: Math.round(seconds) });
  if (seconds < 5400) return t("age.min", { n: Math.round(seconds / 60) });
  return t("age.h", { n: (seconds / 3600).toFixed(1) });
}

async function load(ctx, layer, fit) {
  const [collection, unitList, equipment] = await Promise.all([
    ctx.api.get("/tracks"),
    ctx.api.all("/units", { limit: UNITS_PAGE }),
    ctx.api.get("/equipment"),
    preload(), // if not loaded yet, it is while the server answers
  ]);
  for (const item of equipment.items) families.set(item.id, item.family);
  units.clear();
  for (const unit of unitList) units.set(unit.uid, unit);
  tracks.clear();
  for (const feature of collection.features) tracks.set(feature.properties.uid, entry(feature));
  ctx.metrics.tracksLoaded = performance.now();
  if (fit && tracks.size) {
    // Not animated, fitBounds ends in a moveend, which redraws.
    const points = [...tracks.values()].map((track) => [track.lat, track.lon]);
    ctx.map.fitBounds(L.latLngBounds(points).pad(0.1), { maxZoom: 13, animate: false });
  } else {
    layer.redraw();
  }
  updateCount();
}

// The picture at a past instant (GET /picture?at=): its tracks and registry replace the live
// ones until the replay returns to live, which reloads them.
function showPast(layer, picture) {
  units.clear();
  for (const unit of picture.units) units.set(unit.uid, unit);
  tracks.clear();
  for (const feature of picture.tracks.features) {
    tracks.set(feature.properties.uid, { ...entry(feature), frozen: true });
  }
  layer.redraw();
  updateCount();
}

function updateCount() {
  document.getElementById("picture-count").textContent = t("tracks.count", { n: tracks.size });
}

// milsymbol, which the first frame needs; main.js asks for it first thing at sign-in.
export function preload() {
  return script("milsymbol.js");
}

export async function install(ctx) {
  preload().then(() => warmSymbols(ctx), () => {}); // a failed load fails the first draw instead
  const layer = new TrackLayer(ctx);
  layer.addTo(ctx.map);
  ctx.tracks = {
    get: (uid) => tracks.get(uid),
    all: () => tracks.values(),
    units,
    families,
    layer,
    hit: (point) => layer.hit(point),
    stateOf,
    radiusOf,
    showPast: (picture) => showPast(layer, picture),
    live: () => load(ctx, layer, false),
  };
  await load(ctx, layer, true);
  ctx.bus.on("track", (feature) => {
    if (ctx.past) return; // a replay is shown; going live reloads the picture
    const uid = feature.properties.uid;
    if (feature.geometry === null) tracks.delete(uid);
    else tracks.set(uid, entry(feature));
    ctx.metrics.lastTrackApplied = performance.now();
    layer.schedule();
  });
  ctx.bus.on("resync", () => {
    if (ctx.past) return; // going live reloads it
    load(ctx, layer, false).catch((error) => console.warn("holdfire: resync failed", error));
  });
  setInterval(() => {
    layer.schedule();
    updateCount();
  }, AGE_REDRAW_MS);
  // A click on a symbol opens its panel, unless a tool (the check, drawing) has the map.
  ctx.map.on("click", (event) => {
    if (ctx.mapTool || ctx.past) return; // the unit's panel reads the live registry
    const uid = layer.hit(event.containerPoint);
    if (uid) unitPanel(ctx, uid);
  });
  onLanguage(() => {
    layer.redraw();
    updateCount();
  });
}

registerStrings({
  en: {
    "tracks.count": "{n} tracks", "state.fresh": "fresh", "state.stale": "stale", "state.lost": "lost",
    "unit.affiliation": "Affiliation", "unit.nation": "Nation", "unit.language": "Language",
    "unit.equipment": "Equipment", "unit.mobility": "Mobility", "unit.state": "State", "unit.age": "Age",
    "unit.radius": "Uncertainty", "unit.position": "Position", "unit.source": "Source",
    "unit.authenticated": "Authenticated", "unit.not_authenticated": "no — not authenticated",
    "unit.unregistered": "not registered", yes: "yes",
    "age.s": "{n} s", "age.min": "{n} min", "age.h": "{n} h",
    "affiliation.friend": "friend", "affiliation.assumed-friend": "assumed friend", "affiliation.neutral": "neutral",
    "affiliation.unknown": "unknown", "affiliation.pending": "pending", "affiliation.suspect": "suspect",
    "affiliation.hostile": "hostile",
    "mobility.dismounted": "dismounted", "mobility.wheeled": "wheeled", "mobility.tracked": "tracked",
    "mobility.towed": "towed", "mobility.static": "static", "mobility.air": "air", "mobility.unknown": "unknown",
  },
  ru: {
    "tracks.count": "отметок: {n}", "state.fresh": "актуально", "state.stale": "устарело", "state.lost": "потеряно",
    "unit.affiliation": "Принадлежность", "unit.nation": "Страна", "unit.language": "Язык",
    "unit.equipment": "Техника", "unit.mobility": "Подвижность", "unit.state": "Состояние", "unit.age": "Давность",
    "unit.radius": "Неопределённость", "unit.position": "Положение", "unit.source": "Источник",
    "unit.authenticated": "Подлинность", "unit.not_authenticated": "нет — не подтверждено",
    "unit.unregistered": "не зарегистрировано", yes: "да",
    "age.s": "{n} с", "age.min": "{n} мин", "age.h": "{n} ч",
    "affiliation.friend": "свой", "affiliation.assumed-friend": "предположительно свой", "affiliation.neutral": "нейтральный",
    "affiliation.unknown": "неизвестный", "affiliation.pending": "уточняется", "affiliation.suspect": "подозрительный",
    "affiliation.hostile": "противник",
    "mobility.dismounted": "пеший", "mobility.wheeled": "колёсный", "mobility.tracked": "гусеничный",
    "mobility.towed": "буксируемый", "mobility.static": "неподвижный", "mobility.air": "воздушный", "mobility.unknown": "неизвестно",
  },
  uk: {
    "tracks.count": "позначок: {n}", "state.fresh": "актуально", "state.stale": "застаріло", "state.lost": "втрачено",
    "unit.affiliation": "Належність", "unit.nation": "Країна", "unit.language": "Мова",
    "unit.equipment": "Техніка", "unit.mobility": "Рухливість", "unit.state": "Стан", "unit.age": "Давність",
    "unit.radius": "Невизначеність", "unit.position": "Положення", "unit.source": "Джерело",
    "unit.authenticated": "Автентичність", "unit.not_authenticated": "ні — не підтверджено",
    "unit.unregistered": "не зареєстровано", yes: "так",
    "age.s": "{n} с", "age.min": "{n} хв", "age.h": "{n} год",
    "affiliation.friend": "свій", "affiliation.assumed-friend": "імовірно свій", "affiliation.neutral": "нейтральний",
    "affiliation.unknown": "невідомий", "affiliation.pending": "уточнюється", "affiliation.suspect": "підозрілий",
    "affiliation.hostile": "противник",
    "mobility.dismounted": "пішій", "mobility.wheeled": "колісний", "mobility.tracked": "гусеничний",
    "mobility.towed": "буксируваний", "mobility.static": "нерухомий", "mobility.air": "повітряний", "mobility.unknown": "невідомо",
  },
  ko: {
    "tracks.count": "표적 {n}개", "state.fresh": "최신", "state.stale": "오래됨", "state.lost": "소실",
    "unit.affiliation": "피아 구분", "unit.nation": "국가", "unit.language": "언어",
    "unit.equipment": "장비", "unit.mobility": "기동 유형", "unit.state": "상태", "unit.age": "경과 시간",
    "unit.radius": "불확실 반경", "unit.position": "위치", "unit.source": "출처",
    "unit.authenticated": "인증", "unit.not_authenticated": "아니오 — 인증되지 않음",
    "unit.unregistered": "등록되지 않음", yes: "예",
    "age.s": "{n}초", "age.min": "{n}분", "age.h": "{n}시간",
    "affiliation.friend": "아군", "affiliation.assumed-friend": "추정 아군", "affiliation.neutral": "중립",
    "affiliation.unknown": "미상", "affiliation.pending": "확인 중", "affiliation.suspect": "의심",
    "affiliation.hostile": "적군",
    "mobility.dismounted": "도보", "mobility.wheeled": "차륜", "mobility.tracked": "궤도",
    "mobility.towed": "견인", "mobility.static": "고정", "mobility.air": "공중", "mobility.unknown": "미상",
  },
});
