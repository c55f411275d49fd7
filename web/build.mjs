// Builds the web map into src/holdfire/ui: the app's own sources, the third-party libraries it
// loads (copied from node_modules, never committed) and the offline basemap, so the page needs
// nothing from any other origin. Run by `make run` / `make test` when a source changed.
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { feature } from "topojson-client";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "holdfire", "ui");
const modules = join(here, "node_modules");

const vendor = [
  // [from node_modules, to vendor/, licence file in the package]
  ["leaflet/dist/leaflet.js", "leaflet/leaflet.js", "leaflet/LICENSE"],
  ["leaflet/dist/leaflet.css", "leaflet/leaflet.css", null],
  ["leaflet/dist/images", "leaflet/images", null],
  [
    "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.js",
    "geoman/leaflet-geoman.js",
    "@geoman-io/leaflet-geoman-free/LICENSE",
  ],
  ["@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css", "geoman/leaflet-geoman.css", null],
  ["milsymbol/dist/milsymbol.js", "milsymbol.js", "milsymbol/LICENSE"],
  ["proj4/dist/proj4.js", "proj4.js", "proj4/LICENSE.md"],
  ["mgrs/dist/mgrs.esm.js", "mgrs.esm.js", "mgrs/license.md"],
];

// Natural Earth rings are stitched for spherical rendering and jump across ±180°; on a flat
// Web-Mercator map that draws a stray line around the world. Unwrap each ring so it runs on
// past the antimeridian instead (Leaflet draws longitudes beyond 180 fine).
function unwrap(ring) {
  let shift = 0;
  let last = ring[0][0];
  return ring.map(([lon, lat]) => {
    if (lon + shift - last > 180) shift -= 360;
    else if (lon + shift - last < -180) shift += 360;
    last = lon + shift;
    return [round(lon + shift), round(lat)];
  });
}

const round = (v) => Math.round(v * 1e4) / 1e4;

function polygons(geometry) {
  if (geometry.type === "Polygon") return [geometry.coordinates];
  if (geometry.type === "MultiPolygon") return geometry.coordinates;
  return [];
}

function basemap() {
  const topo = JSON.parse(readFileSync(join(modules, "world-atlas/countries-50m.json"), "utf8"));
  const countries = feature(topo, topo.objects.countries);
  const features = countries.features
    .filter((f) => f.geometry && f.id !== "010") // Antarctica: no use here, and wraps the pole
    .map((f) => ({
      type: "Feature",
      id: f.id,
      properties: { name: f.properties.name },
      geometry: {
        type: "MultiPolygon",
        coordinates: polygons(f.geometry).map((poly) => poly.map(unwrap)),
      },
    }));
  return { type: "FeatureCollection", features };
}

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "vendor"), { recursive: true });
mkdirSync(join(out, "data"), { recursive: true });
cpSync(join(here, "src"), join(out, "app"), { recursive: true });
// Every module of the app preloaded, so the browser fetches them at once rather than one level
// of imports after another (main.js, what it imports, what those import).
const entry = '<script type="module" src="app/main.js"></script>';
const modulePaths = readdirSync(join(here, "src"))
  .filter((name) => name.endsWith(".js") && name !== "main.js")
  .map((name) => `app/${name}`);
const preloads = ["vendor/mgrs.esm.js", ...modulePaths]
  .map((href) => `<link rel="modulepreload" href="${href}">\n  `)
  .join("");
const page = readFileSync(join(here, "index.html"), "utf8");
if (!page.includes(entry)) throw new Error(`web/index.html: no ${entry}`);
writeFileSync(join(out, "index.html"), page.replace(entry, preloads + entry));
const licences = [];
for (const [from, to, licence] of vendor) {
  mkdirSync(dirname(join(out, "vendor", to)), { recursive: true });
  cpSync(join(modules, from), join(out, "vendor", to), { recursive: true });
  if (licence) {
    licences.push(`== ${licence.split("/").slice(0, -1).join("/")} ==\n`);
    licences.push(readFileSync(join(modules, licence), "utf8"));
  }
}
licences.push("== world-atlas (Natural Earth data, public domain) ==\n");
licences.push(readFileSync(join(modules, "world-atlas/LICENSE"), "utf8"));
writeFileSync(join(out, "vendor", "LICENSES.txt"), licences.join("\n"));
writeFileSync(join(out, "data", "countries.geojson"), JSON.stringify(basemap()));
console.log(`web: built into ${out}`);
