// The web map's entry point: sign-in, the shell (header, side panels, map) and the modules.
// Every module gets the same context and shows only what the token's role may do.
import { ApiError, createApi, openStream } from "./api.js";
import { language, languageSelects, onLanguage, setLanguage, t, translate } from "./i18n.js";
import { createMap, showBasemap } from "./map.js";
import * as tracks from "./tracks.js";
import * as grid from "./grid.js";
import * as measures from "./measures.js";
import * as check from "./check.js";
import * as audit from "./audit.js";
import * as alerts from "./alerts.js";
import * as messages from "./messages.js";
import * as replay from "./replay.js";

const TOKEN_KEY = "holdfire.token";

function createBus() {
  const handlers = {};
  return {
    on(kind, fn) {
      (handlers[kind] ||= []).push(fn);
    },
    emit(kind, data) {
      for (const fn of handlers[kind] || []) {
        try {
          fn(data);
        } catch (error) {
          console.error(`holdfire: ${kind} handler failed`, error);
        }
      }
    },
  };
}

// Side panels as tabs; a module adds its panel and is told when it is shown or hidden.
function createPanels() {
  const tabs = document.getElementById("tabs");
  const holder = document.getElementById("panels");
  const panels = [];
  let active = null;
  function show(id) {
    for (const panel of panels) {
      const on = panel.id === id;
      panel.element.hidden = !on;
      panel.button.setAttribute("aria-selected", String(on));
      if (on && active !== id && panel.onShow) panel.onShow();
      if (!on && active === panel.id && panel.onHide) panel.onHide();
    }
    active = id;
  }
  return {
    add({ id, title, element, onShow, onHide }) {
      const button = document.createElement("button");
      button.type = "button";
      button.role = "tab";
      button.dataset.i18n = title;
      button.dataset.panel = id;
      button.textContent = t(title);
      button.addEventListener("click", () => show(id));
      element.classList.add("panel");
      element.id = `panel-${id}`;
      element.hidden = true;
      tabs.append(button);
      holder.append(element);
      panels.push({ id, element, button, onShow, onHide });
      if (active === null) show(id);
    },
    show,
    active: () => active,
  };
}

async function start(token) {
  tracks.preload(); // the symbols' library, fetched and parsed while the server answers
  const api = createApi(token);
  const me = await api.get("/me");
  sessionStorage.setItem(TOKEN_KEY, token); // valid: kept for this browser session only
  document.getElementById("signin").hidden = true;
  document.getElementById("app").hidden = false;
  const who = document.getElementById("who");
  const showWho = () => {
    who.textContent = `${me.name} · ${t(`role.${me.role}`)}`;
  };
  showWho();
  onLanguage(showWho);
  const bus = createBus();
  const ctx = {
    api,
    me,
    bus,
    can: (action) => me.may.includes(action),
    panels: createPanels(),
    map: createMap(document.getElementById("map")),
    metrics: { signedInAt: performance.now() },
  };
  window.holdfire = ctx; // for the browser tests and the UI benchmark
  for (const module of [tracks, grid, measures, check, audit, alerts, messages, replay]) {
    await module.install(ctx);
    if (module === tracks) showBasemap(ctx.map); // after the tracks' first frame
  }
  translate(document);
  const state = document.getElementById("stream-state");
  let connected = false;
  ctx.stream = openStream(
    token,
    (message) => bus.emit(message.kind, message.data),
    (status) => {
      state.className = `stream-state ${status}`;
      state.dataset.i18n = status === "open" ? "stream.open" : status === "lost" ? "stream.lost" : "stream.connecting";
      state.textContent = t(state.dataset.i18n);
      if (status === "unauthorized") signOut();
      // Whatever happened while away is not replayed: re-read the picture on a reconnection.
      if (status === "open" && connected) bus.emit("resync", null);
      if (status === "open") connected = true;
    },
  );
  ctx.metrics.ready = performance.now(); // every module installed
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
}

function signIn() {
  const form = document.getElementById("signin");
  const error = document.getElementById("signin-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = document.getElementById("signin-token").value.trim();
    error.textContent = "";
    try {
      await start(token);
    } catch (failure) {
      error.textContent =
        failure instanceof ApiError && failure.status === 401
          ? t("signin.bad")
          : t("signin.failed", { error: failure.message });
    }
  });
}

languageSelects();
setLanguage(language());
signIn();
document.getElementById("signout").addEventListener("click", signOut);
const kept = sessionStorage.getItem(TOKEN_KEY);
if (kept) {
  start(kept).catch(() => {
    sessionStorage.removeItem(TOKEN_KEY);
    document.getElementById("signin").hidden = false;
    document.getElementById("app").hidden = true;
  });
}
