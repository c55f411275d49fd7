// The map: Leaflet with the offline Natural Earth basemap, operator tiles when the server has
// them, a scale bar and the cursor's MGRS and lat/lon.
import { latLonText, mgrsOf } from "./geo.js";

const KURSK = [51.3, 35.2];

export function createMap(element) {
  const map = L.map(element, { worldCopyJump: true, minZoom: 2, maxZoom: 19 }).setView(KURSK, 9);
  map.createPane("basemap").style.zIndex = 150;
  map.createPane("measures").style.zIndex = 410;
  map.createPane("tracks").style.zIndex = 450;
  map.createPane("checks").style.zIndex = 460;
  map.createPane("grid").style.zIndex = 470;
  map.getPane("grid").style.pointerEvents = "none";
  map.attributionControl.setPrefix("Leaflet · Natural Earth");
  operatorTiles(map).catch((error) => console.warn("holdfire: operator tiles not loaded", error));
  L.control.scale({ metric: true, imperial: false, maxWidth: 160 }).addTo(map);
  const cursor = document.getElementById("cursor");
  map.on("mousemove", (event) => {
    const { lat, lng } = event.latlng;
    cursor.textContent = `${mgrsOf(lat, lng)}   ${latLonText(lat, lng)}`;
  });
  return map;
}

// The Natural Earth countries (1.7 MB). Called once the tracks have drawn their first frame,
// which need not wait for the download nor for the ~100 ms Leaflet takes to build them.
export function showBasemap(map) {
  fetch("data/countries.geojson")
    .then((response) => response.json())
    .then((data) => {
      L.geoJSON(data, {
        pane: "basemap",
        interactive: false,
        style: { color: "#777", weight: 1, fillColor: "#f2efe6", fillOpacity: 1 },
      }).addTo(map);
    })
    .catch((error) => console.warn("holdfire: basemap not loaded", error));
}

// Raster tiles of the area, from `serve --tiles`; none configured is the usual case.
async function operatorTiles(map) {
  const response = await fetch("/api/v1/tiles");
  if (!response.ok) return;
  const meta = await response.json();
  if (meta.format === "pbf") return; // vector tiles need a style; the basemap stays
  const options = { pane: "tilePane", maxNativeZoom: meta.maxzoom, minNativeZoom: meta.minzoom };
  if (meta.bounds) options.bounds = [[meta.bounds[1], meta.bounds[0]], [meta.bounds[3], meta.bounds[2]]];
  if (meta.attribution) options.attribution = meta.attribution;
  L.tileLayer("/tiles/{z}/{x}/{y}", options).addTo(map);
}
