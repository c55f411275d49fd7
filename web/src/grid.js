// The MGRS grid over the map, as on a printed military map: grid zone (GZD) boundaries always,
// 100 km squares from zoom 7, 10 km lines from zoom 10 and 1 km lines from zoom 13. Each line is
// one of constant UTM easting or northing in its zone (proj4), clipped to the zone's longitudes
// with the Norway and Svalbard exceptions. It is drawn on one canvas in the "grid" pane at each
// moveend; labels name the zones and squares (the letters come from the mgrs library) and give
// the lines' km digits along the map's top and left edges. A control at the top right turns it
// off and on.
import { forward } from "../vendor/mgrs.esm.js";
import { metresPerPixel, wrap } from "./geo.js";
import { resetCanvas } from "./canvas.js";
import { registerStrings, t } from "./i18n.js";
import { script } from "./vendor.js";

// Zoom thresholds. At the equator, where a zoom's pixels cover the most ground, the finest lines
// are still 52 px apart (1 km at 13), so a 1920 x 1080 screen holds under 60 of them, and the
// canvas, half a screen bigger on each side for panning, about 250 lines at most in all.
const SQUARES_FROM = 7;
const TEN_KM_FROM = 10;
const ONE_KM_FROM = 13;
const CORNER_FROM = 10; // a square is then wider than the view: its name goes in its top left
const LAT_MIN = -80; // MGRS proper: UPS covers the poles beyond
const LAT_MAX = 84;
const BANDS = "CDEFGHJKLMNPQRSTUVWX"; // 8° each from 80°S; X is 12° (72°N to 84°N)
// Zone spans that differ from 6° (west, east), null for zones that do not exist in the band.
const EXCEPTIONS = {
  V: { 31: [0, 3], 32: [3, 12] },
  X: { 31: [0, 9], 32: null, 33: [9, 21], 34: null, 35: [21, 33], 36: null, 37: [33, 42] },
};
const ZONE_LINE = { color: "rgba(0, 0, 0, 0.9)", width: 2 };
const LINES = {
  100000: { color: "rgba(0, 0, 30, 0.8)", width: 1.4 },
  10000: { color: "rgba(0, 0, 30, 0.7)", width: 1 },
  1000: { color: "rgba(0, 0, 30, 0.55)", width: 0.8 },
};
const SAMPLES_PER_VIEW = 20; // a line is sampled every 1/20 of the view, so it curves right
const EDGE_INSET = 9; // px from the map's edge to the middle of a line's km digits

const CELLS = gridZones();
const converters = new Map(); // zone -> proj4 converter between WGS84 lon/lat and UTM

function gridZones() {
  const cells = [];
  for (let b = 0; b < BANDS.length; b++) {
    const band = BANDS[b];
    const south = LAT_MIN + 8 * b;
    const north = band === "X" ? LAT_MAX : south + 8;
    for (let zone = 1; zone <= 60; zone++) {
      const special = EXCEPTIONS[band]?.[zone];
      if (special === null) continue;
      const [west, east] = special || [-180 + 6 * (zone - 1), -174 + 6 * (zone - 1)];
      cells.push({ name: `${zone}${band}`, zone, west, east, south, north });
    }
  }
  return cells;
}

// One converter per zone; no +south, so northings run negative south of the equator, which
// moves no line (10 000 km is a whole number of 100 km) and mod() reads the same digits.
function utm(zone) {
  let converter = converters.get(zone);
  if (!converter) {
    converter = proj4("WGS84", `+proj=utm +zone=${zone} +datum=WGS84 +units=m +no_defs`);
    converters.set(zone, converter);
  }
  return converter;
}

const mod = (value, m) => ((value % m) + m) % m;
const kmDigits = (metres) => String(Math.floor(mod(metres, 100000) / 1000)).padStart(2, "0");

// The grid zones that meet a lon/lat box, with each zone's part of it; world copies included, as
// a view near the antimeridian runs on past ±180.
function zonesIn(box) {
  const found = [];
  for (let shift = Math.floor((box.west + 180) / 360) * 360; shift - 180 < box.east; shift += 360) {
    for (const cell of CELLS) {
      const part = {
        west: Math.max(cell.west + shift, box.west),
        east: Math.min(cell.east + shift, box.east),
        south: Math.max(cell.south, box.south),
        north: Math.min(cell.north, box.north),
      };
      if (part.west < part.east && part.south < part.north) found.push({ cell, shift, part });
    }
  }
  return found;
}

// A zone's converter as [lon, lat] <-> [easting, northing], lon on the zone's side of ±180.
function projection(cell, shift) {
  const converter = utm(cell.zone);
  const centre = -183 + 6 * cell.zone;
  return {
    toUtm: (lon, lat) => converter.forward([wrap(lon - shift), lat]),
    toLonLat: (e, n) => {
      const [lon, lat] = converter.inverse([e, n]);
      return [centre + wrap(lon - centre) + shift, lat];
    },
  };
}

// The easting and northing extent of a lon/lat box, from points along its edges (a parallel
// bows in UTM).
function utmExtent(proj, box) {
  const extent = { emin: Infinity, emax: -Infinity, nmin: Infinity, nmax: -Infinity };
  const steps = 8;
  for (let i = 0; i <= steps; i++) {
    const lon = box.west + ((box.east - box.west) * i) / steps;
    const lat = box.south + ((box.north - box.south) * i) / steps;
    for (const [x, y] of [[lon, box.south], [lon, box.north], [box.west, lat], [box.east, lat]]) {
      const [e, n] = proj.toUtm(x, y);
      extent.emin = Math.min(extent.emin, e);
      extent.emax = Math.max(extent.emax, e);
      extent.nmin = Math.min(extent.nmin, n);
      extent.nmax = Math.max(extent.nmax, n);
    }
  }
  return extent;
}

// Liang-Barsky: the part of segment a-b inside the box, as [from, to] (the same arrays when
// unclipped), or null.
function clipSegment(a, b, [x0, y0, x1, y1]) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  let t0 = 0;
  let t1 = 1;
  for (const [p, q] of [[-dx, a[0] - x0], [dx, x1 - a[0]], [-dy, a[1] - y0], [dy, y1 - a[1]]]) {
    if (p === 0) {
      if (q < 0) return null;
      continue;
    }
    const r = q / p;
    if (p < 0) t0 = Math.max(t0, r);
    else t1 = Math.min(t1, r);
    if (t0 > t1) return null;
  }
  const at = (s) => [a[0] + s * dx, a[1] + s * dy];
  return [t0 === 0 ? a : at(t0), t1 === 1 ? b : at(t1)];
}

// The runs of a polyline inside the box.
function clipLine(points, box) {
  const runs = [];
  let run = null;
  for (let i = 1; i < points.length; i++) {
    const clipped = clipSegment(points[i - 1], points[i], box);
    if (!clipped) {
      run = null;
      continue;
    }
    if (!run || clipped[0] !== points[i - 1]) {
      run = [clipped[0]];
      runs.push(run);
    }
    run.push(clipped[1]);
    if (clipped[1] !== points[i]) run = null;
  }
  return runs;
}

// Sutherland-Hodgman: a polygon cut to an axis-aligned box.
function clipPolygon(points, [x0, y0, x1, y1]) {
  const edges = [
    [(p) => p[0] >= x0, (a, b) => [x0, a[1] + ((b[1] - a[1]) * (x0 - a[0])) / (b[0] - a[0])]],
    [(p) => p[0] <= x1, (a, b) => [x1, a[1] + ((b[1] - a[1]) * (x1 - a[0])) / (b[0] - a[0])]],
    [(p) => p[1] >= y0, (a, b) => [a[0] + ((b[0] - a[0]) * (y0 - a[1])) / (b[1] - a[1]), y0]],
    [(p) => p[1] <= y1, (a, b) => [a[0] + ((b[0] - a[0]) * (y1 - a[1])) / (b[1] - a[1]), y1]],
  ];
  let out = points;
  for (const [inside, cross] of edges) {
    const input = out;
    out = [];
    for (let i = 0; i < input.length; i++) {
      const a = input[(i + input.length - 1) % input.length];
      const b = input[i];
      if (inside(b)) {
        if (!inside(a)) out.push(cross(a, b));
        out.push(b);
      } else if (inside(a)) out.push(cross(a, b));
    }
    if (!out.length) break;
  }
  return out;
}

function centroid(points) {
  let area = 0;
  let x = 0;
  let y = 0;
  for (let i = 0; i < points.length; i++) {
    const [ax, ay] = points[i];
    const [bx, by] = points[(i + 1) % points.length];
    const cross = ax * by - bx * ay;
    area += cross;
    x += (ax + bx) * cross;
    y += (ay + by) * cross;
  }
  return [x / (3 * area), y / (3 * area)];
}

function bounds(points) {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

// Where a polyline crosses a horizontal (axis 1) or vertical (axis 0) line at `at`.
function crossing(points, axis, at) {
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    if ((a[axis] - at) * (b[axis] - at) > 0 || a[axis] === b[axis]) continue;
    const s = (at - a[axis]) / (b[axis] - a[axis]);
    return [a[0] + s * (b[0] - a[0]), a[1] + s * (b[1] - a[1])];
  }
  return null;
}

const overlaps = (a, b) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];

// The label font and colour are the .grid-label style of app.css.
function labelStyle(container) {
  const probe = L.DomUtil.create("span", "grid-label", container);
  probe.style.visibility = "hidden";
  const style = getComputedStyle(probe);
  const read = {
    font: `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`,
    color: style.color,
    height: parseFloat(style.fontSize) + 2,
  };
  probe.remove(); // the computed style empties with it
  return read;
}

const GridLayer = L.Layer.extend({
  initialize(ctx) {
    this.ctx = ctx;
    this.drawn = []; // [{text, kind}] of the labels on the map
  },
  onAdd(map) {
    this.canvas = L.DomUtil.create("canvas", "grid-canvas");
    this.canvas.style.pointerEvents = "none";
    map.getPane("grid").append(this.canvas);
    this.style = labelStyle(map.getContainer());
    map.on({ moveend: this.redraw, zoomstart: this.hide, zoomend: this.show }, this);
    this.redraw();
  },
  onRemove(map) {
    map.off({ moveend: this.redraw, zoomstart: this.hide, zoomend: this.show }, this);
    this.canvas.remove();
    this.drawn = [];
  },
  // The canvas is not scaled through a zoom animation: hidden until the redraw after it.
  hide() {
    this.canvas.style.visibility = "hidden";
  },
  show() {
    this.canvas.style.visibility = "";
  },
  redraw() {
    const started = performance.now();
    const map = this._map;
    const zoom = map.getZoom();
    const { g, size, pad, origin, ratio, width, height } = resetCanvas(map, this.canvas);
    this.drawn = [];
    const base = map.getPixelOrigin().add(origin);
    const px = ([lon, lat]) => {
      const p = map.project(L.latLng(lat, lon), zoom);
      return [p.x - base.x, p.y - base.y];
    };
    const nw = map.containerPointToLatLng(pad.multiplyBy(-1));
    const se = map.containerPointToLatLng(size.add(pad));
    const region = {
      west: nw.lng, east: se.lng, south: Math.max(se.lat, LAT_MIN), north: Math.min(nw.lat, LAT_MAX),
    };
    const view = [pad.x, pad.y, pad.x + size.x, pad.y + size.y]; // the visible part, canvas px
    let lines = 0;
    if (region.south < region.north) {
      const zones = zonesIn(region);
      lines += this.zoneLines(g, zones, region, px, zoom);
      const ruled = zoom >= SQUARES_FROM ? this.utmLines(g, zones, px, zoom, size) : [];
      lines += ruled.length;
      this.labels(g, zones, view, px, base, zoom, ruled);
    }
    const metrics = this.ctx.metrics;
    metrics.gridDrawMs = performance.now() - started;
    metrics.gridLines = lines;
  },
  zoneLines(g, zones, region, px, zoom) {
    const path = new Path2D();
    let count = 0;
    const segment = (a, b) => {
      const [ax, ay] = px(a);
      const [bx, by] = px(b);
      path.moveTo(ax, ay);
      path.lineTo(bx, by);
      count++;
    };
    // Each zone's edges, within the region; meridians and parallels are straight on the map.
    for (const { cell, shift, part } of zones) {
      for (const lon of [cell.west + shift, cell.east + shift]) {
        if (lon >= region.west && lon <= region.east) segment([lon, part.south], [lon, part.north]);
      }
      for (const lat of [cell.south, cell.north]) {
        if (lat >= region.south && lat <= region.north) segment([part.west, lat], [part.east, lat]);
      }
    }
    g.strokeStyle = ZONE_LINE.color;
    g.lineWidth = zoom >= SQUARES_FROM ? ZONE_LINE.width : ZONE_LINE.width / 2;
    g.stroke(path);
    return count;
  },
  // The lines of constant easting and northing in each zone's part of the region, coarse to
  // fine, each drawn once at its coarsest spacing; returns them for their labels.
  utmLines(g, zones, px, zoom, size) {
    const spacings = [100000];
    if (zoom >= TEN_KM_FROM) spacings.push(10000);
    if (zoom >= ONE_KM_FROM) spacings.push(1000);
    const centre = this._map.getCenter();
    const step = (Math.min(size.x, size.y) * metresPerPixel(centre.lat, zoom)) / SAMPLES_PER_VIEW;
    const paths = Object.fromEntries(spacings.map((d) => [d, new Path2D()]));
    const ruled = []; // [{axis: "easting"|"northing", value, points (canvas px)}]
    for (const { cell, shift, part } of zones) {
      const proj = projection(cell, shift);
      const { emin, emax, nmin, nmax } = utmExtent(proj, part);
      const box = [part.west, part.south, part.east, part.north];
      const rule = (axis, value, from, to, spacing) => {
        const count = Math.min(400, Math.max(2, Math.ceil((to - from) / step) + 1));
        const points = [];
        for (let i = 0; i < count; i++) {
          const along = from + ((to - from) * i) / (count - 1);
          points.push(axis === "easting" ? proj.toLonLat(value, along) : proj.toLonLat(along, value));
        }
        for (const run of clipLine(points, box)) {
          const onScreen = run.map(px);
          const path = paths[spacing];
          path.moveTo(...onScreen[0]);
          for (const point of onScreen.slice(1)) path.lineTo(...point);
          ruled.push({ axis, value, points: onScreen });
        }
      };
      spacings.forEach((spacing, i) => {
        const coarser = spacings[i - 1];
        for (let e = Math.ceil(emin / spacing) * spacing; e <= emax; e += spacing) {
          if (!coarser || mod(e, coarser) !== 0) rule("easting", e, nmin, nmax, spacing);
        }
        for (let n = Math.ceil(nmin / spacing) * spacing; n <= nmax; n += spacing) {
          if (!coarser || mod(n, coarser) !== 0) rule("northing", n, emin, emax, spacing);
        }
      });
    }
    for (const spacing of spacings) {
      g.strokeStyle = LINES[spacing].color;
      g.lineWidth = LINES[spacing].width;
      g.stroke(paths[spacing]);
    }
    return ruled;
  },
  // Labels, the most telling first; one that would cover another or a map control is left out.
  labels(g, zones, view, px, base, zoom, ruled) {
    const { font, color, height } = this.style;
    g.font = font;
    g.textBaseline = "middle";
    g.lineJoin = "round";
    const container = this._map.getContainer().getBoundingClientRect();
    const taken = [...this._map.getContainer().querySelectorAll(".leaflet-control")].map((control) => {
      const r = control.getBoundingClientRect();
      const x = r.left - container.left + view[0];
      const y = r.top - container.top + view[1];
      return [x - 2, y - 2, x + r.width + 2, y + r.height + 2];
    });
    // Puts text at (x, y): its middle, its left end or its right end. A boxed label gets a white
    // tag; `slide` moves it right past what is in the way. Returns whether it was drawn.
    const put = (text, kind, x, y, { align = "left", boxed = false, slide = false, within = view } = {}) => {
      const w = g.measureText(text).width;
      const grow = boxed ? 3 : 2;
      let left = align === "centre" ? x - w / 2 : align === "right" ? x - w : x;
      for (let tries = 0; tries < 4; tries++) {
        const box = [left - grow, y - height / 2 - grow + 2, left + w + grow, y + height / 2 + grow - 2];
        if (box[0] < within[0] || box[1] < within[1] || box[2] > within[2] || box[3] > within[3]) {
          return false;
        }
        const blocker = taken.find((other) => overlaps(box, other));
        if (!blocker) {
          taken.push(box);
          if (boxed) {
            g.fillStyle = "rgba(255, 255, 255, 0.9)";
            g.fillRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
            g.lineWidth = 1;
            g.strokeStyle = color;
            g.strokeRect(box[0] + 0.5, box[1] + 0.5, box[2] - box[0] - 1, box[3] - box[1] - 1);
          } else {
            g.lineWidth = 3;
            g.strokeStyle = "rgba(255, 255, 255, 0.9)";
            g.strokeText(text, left, y);
          }
          g.fillStyle = color;
          g.fillText(text, left, y);
          this.drawn.push({ text, kind });
          return true;
        }
        if (!slide) return false;
        left = blocker[2] + 4;
      }
      return false;
    };
    const fits = (text, [x0, y0, x1, y1], across, down) =>
      x1 - x0 >= across * g.measureText(text).width && y1 - y0 >= down * height;
    const seen = zones.filter(({ part }) => {
      const [x0, y0] = px([part.west, part.north]);
      const [x1, y1] = px([part.east, part.south]);
      return x0 < view[2] && x1 > view[0] && y0 < view[3] && y1 > view[1];
    });
    for (const { cell, shift, part } of seen) {
      // The zone's visible part: zones are lon/lat boxes, so boxes on the map too.
      const [x0, y0] = px([part.west, part.north]);
      const [x1, y1] = px([part.east, part.south]);
      const box = [Math.max(x0, view[0]), Math.max(y0, view[1]), Math.min(x1, view[2]), Math.min(y1, view[3])];
      if (zoom < SQUARES_FROM) {
        if (fits(cell.name, box, 2, 2)) {
          put(cell.name, "zone", (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, { align: "centre" });
        }
      } else if (zoom < CORNER_FROM) {
        put(cell.name, "zone", box[0] + 6, box[1] + height, { boxed: true, slide: true, within: box });
      }
      if (zoom >= SQUARES_FROM) this.squareLabels(put, fits, cell, shift, box, px, base, zoom);
    }
    if (zoom < TEN_KM_FROM) return;
    // A line's km digits where it leaves the map: eastings along the top and bottom, northings
    // down both sides.
    for (const { axis, value, points } of ruled) {
      const text = kmDigits(value);
      if (axis === "easting") {
        for (const y of [view[1] + EDGE_INSET, view[3] - EDGE_INSET]) {
          const at = crossing(points, 1, y);
          if (at) put(text, axis, at[0], y, { align: "centre" });
        }
      } else {
        for (const [x, align] of [[view[0] + 3, "left"], [view[2] - 3, "right"]]) {
          const at = crossing(points, 0, x);
          if (at) put(text, axis, x, at[1], { align });
        }
      }
    }
  },
  // Each 100 km square's letters in its visible part within a zone: in its middle while squares
  // fit the view, then with the zone in its top left.
  squareLabels(put, fits, cell, shift, box, px, base, zoom) {
    const map = this._map;
    const proj = projection(cell, shift);
    const toLonLat = ([x, y]) => {
      const at = map.unproject([x + base.x, y + base.y], zoom);
      return [at.lng, at.lat];
    };
    const [west, north] = toLonLat([box[0], box[1]]);
    const [east, south] = toLonLat([box[2], box[3]]);
    const { emin, emax, nmin, nmax } = utmExtent(proj, { west, east, south, north });
    const side = 100000;
    const steps = 4; // points per side: a square's sides are near enough straight on the map
    for (let e = Math.floor(emin / side) * side; e < emax; e += side) {
      for (let n = Math.floor(nmin / side) * side; n < nmax; n += side) {
        const outline = [];
        for (let i = 0; i < steps; i++) outline.push(proj.toLonLat(e + (side * i) / steps, n));
        for (let i = 0; i < steps; i++) outline.push(proj.toLonLat(e + side, n + (side * i) / steps));
        for (let i = 0; i < steps; i++) outline.push(proj.toLonLat(e + side - (side * i) / steps, n + side));
        for (let i = 0; i < steps; i++) outline.push(proj.toLonLat(e, n + side - (side * i) / steps));
        const visible = clipPolygon(outline.map(px), box);
        if (visible.length < 3) continue;
        const seen = bounds(visible);
        if (seen[2] - seen[0] < 1 || seen[3] - seen[1] < 1) continue; // a sliver: no middle to letter
        const middle = centroid(visible);
        const [lon, lat] = toLonLat(middle);
        const name = forward([wrap(lon), lat], 0); // e.g. 36UXB: the zone, then the letters
        if (zoom < CORNER_FROM) {
          const text = name.slice(-2);
          if (fits(text, seen, 2, 3)) put(text, "square", middle[0], middle[1], { align: "centre" });
        } else {
          // Clear of the edge digits: inside the first line of labels on the left and top.
          const text = `${name.slice(0, -2)} ${name.slice(-2)}`;
          put(text, "square", seen[0] + 26, seen[1] + 32, { boxed: true, slide: true, within: seen });
        }
      }
    }
  },
});

const GridToggle = L.Control.extend({
  options: { position: "topright" },
  initialize(layer) {
    this.layer = layer;
  },
  onAdd(map) {
    const box = L.DomUtil.create("label", "leaflet-control leaflet-bar grid-toggle");
    const input = L.DomUtil.create("input", "", box);
    input.type = "checkbox";
    const sync = () => (input.checked = map.hasLayer(this.layer));
    sync();
    this.layer.on("add remove", sync);
    const text = L.DomUtil.create("span", "", box);
    text.dataset.i18n = "grid.toggle";
    text.textContent = t("grid.toggle");
    L.DomEvent.disableClickPropagation(box);
    input.addEventListener("change", () => (input.checked ? this.layer.addTo(map) : this.layer.remove()));
    return box;
  },
});

export async function install(ctx) {
  await script("proj4.js");
  const layer = new GridLayer(ctx);
  new GridToggle(layer).addTo(ctx.map);
  layer.addTo(ctx.map);
  ctx.grid = {
    layer,
    // The label texts on the map now, of one kind if asked: zone, square, easting, northing.
    labels: (kind) => layer.drawn.filter((label) => !kind || label.kind === kind).map((label) => label.text),
  };
}

registerStrings({
  en: { "grid.toggle": "MGRS grid" },
  ru: { "grid.toggle": "Сетка MGRS" },
  uk: { "grid.toggle": "Сітка MGRS" },
  ko: { "grid.toggle": "MGRS 격자" },
});
