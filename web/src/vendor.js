// Third-party scripts the page does not run itself, loaded from this server when a module first
// needs them: milsymbol for the track symbols (index.html only fetches it ahead), proj4 for the
// grid, leaflet-geoman for a planner's drawing tools (never for other roles). Neither the
// sign-in page nor the first frame waits for their ~1.5 MB to be parsed; each loads once.
const loading = new Map(); // path -> Promise

function once(path, make) {
  let promise = loading.get(path);
  if (!promise) {
    promise = new Promise((resolve, reject) => {
      const element = make(`vendor/${path}`);
      element.addEventListener("load", () => resolve());
      element.addEventListener("error", () => {
        loading.delete(path); // a later call tries again
        reject(new Error(`vendor/${path} did not load`));
      });
      document.head.append(element);
    });
    loading.set(path, promise);
  }
  return promise;
}

// A classic script (it sets its global: ms, proj4, L.PM).
export function script(path) {
  return once(path, (src) => Object.assign(document.createElement("script"), { src }));
}

export function stylesheet(path) {
  return once(path, (href) => Object.assign(document.createElement("link"), { rel: "stylesheet", href }));
}
