// A canvas layer's frame: half a screen of margin on every side, so a pan shows what is already
// drawn, at the device's pixel ratio, placed at the map's current origin and cleared.
export function resetCanvas(map, canvas) {
  const size = map.getSize();
  const pad = size.multiplyBy(0.5).round();
  const origin = map.containerPointToLayerPoint(pad.multiplyBy(-1)).round();
  const ratio = window.devicePixelRatio || 1;
  const width = size.x + 2 * pad.x;
  const height = size.y + 2 * pad.y;
  if (canvas.width !== width * ratio || canvas.height !== height * ratio) {
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
  }
  L.DomUtil.setPosition(canvas, origin);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  return { g, size, pad, origin, ratio, width, height };
}
