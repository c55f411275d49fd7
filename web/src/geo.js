// Grid references for display and input: MGRS through the mgrs library, lat/lon as decimals.
import { forward } from "../vendor/mgrs.esm.js";

// A point's MGRS at `digits` per axis (5 = 1 m), spaced for reading aloud; "" outside MGRS.
export function mgrsOf(lat, lon, digits = 5) {
  if (lat < -80 || lat > 84) return "";
  const text = forward([wrap(lon), lat], digits);
  const match = /^(\d{1,2}[A-Z])([A-Z]{2})(\d*)$/.exec(text);
  if (!match) return text;
  const half = match[3].length / 2;
  return `${match[1]} ${match[2]} ${match[3].slice(0, half)} ${match[3].slice(half)}`.trim();
}

export function wrap(lon) {
  return ((((lon + 180) % 360) + 360) % 360) - 180;
}

export function latLonText(lat, lon) {
  return `${lat.toFixed(5)}, ${wrap(lon).toFixed(5)}`;
}

// What a typed target means to the API: two decimals are lat, lon; anything else is a grid the
// server parses (and rejects with a message naming what was wrong).
export function targetOf(text) {
  const decimals = /^\s*([-+]?\d+(?:\.\d+)?)\s*[,;\s]\s*([-+]?\d+(?:\.\d+)?)\s*$/.exec(text);
  if (decimals) return { lat: Number(decimals[1]), lon: Number(decimals[2]) };
  return { grid: text.replace(/\s+/g, "") };
}

const EARTH_M = 40075016.686;

// Metres per screen pixel at a latitude (Web Mercator), for drawing radii in metres.
export function metresPerPixel(lat, zoom) {
  return (EARTH_M * Math.cos((lat * Math.PI) / 180)) / (256 * 2 ** zoom);
}

export function formatDistance(m) {
  return m >= 10000 ? `${(m / 1000).toFixed(1)} km` : `${Math.round(m)} m`;
}
