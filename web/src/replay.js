// The replay: a time slider that shows the picture as it stood at a past instant, rebuilt by
// the server from its event log (GET /picture?at=). While in the past the map is read-only:
// the side panels are dimmed and take no input, map clicks start nothing, and stream updates
// are not applied; "Live" reloads the current picture. Shown to the roles that may replay.
import { onLanguage, registerStrings, t, translate } from "./i18n.js";

function stamp(iso) {
  return `${iso.replace("T", " ").slice(0, 19)}Z`;
}

export async function install(ctx) {
  if (!ctx.can("replay")) return;
  const box = document.createElement("span");
  box.className = "replay";
  box.innerHTML = `
    <button id="replay-open" type="button" data-i18n="replay.open"></button>
    <span id="replay-controls" class="replay" hidden>
      <input id="replay-slider" type="range" min="0" max="0" step="1" data-i18n-title="replay.slider">
      <output id="replay-time"></output>
      <button id="replay-live" type="button" data-i18n="replay.live"></button>
    </span>`;
  document.querySelector("header .spacer").before(box);
  translate(box);
  const [open, controls, slider, label, live] = ["open", "controls", "slider", "time", "live"].map(
    (id) => document.getElementById(`replay-${id}`),
  );
  let since = 0; // the log's first event, ms
  let asked = 0; // the latest request wins; going live outdates them all
  const instant = () => since + Number(slider.value) * 1000;
  const showLabel = () => {
    const iso = new Date(instant()).toISOString();
    label.value = ctx.past ? t("replay.past", { at: stamp(ctx.past) }) : stamp(iso);
  };

  async function show() {
    const mine = ++asked;
    const picture = await ctx.api.get("/picture", { at: new Date(instant()).toISOString() });
    if (mine !== asked) return;
    ctx.past = picture.at;
    document.body.classList.add("past");
    ctx.tracks.showPast(picture);
    ctx.measures.showPast(picture.measures);
    showLabel();
    ctx.metrics.replayShown = picture.at; // for the browser tests
  }

  open.addEventListener("click", async () => {
    const span = await ctx.api.get("/picture"); // now, and where the log begins
    // Date keeps milliseconds: round the log's first time up so the slider's first step holds it
    const first = span.since ?? span.at;
    since = Date.parse(first) + (/\.\d{4,}/.test(first) ? 1 : 0);
    slider.max = String(Math.max(0, Math.round((Date.parse(span.at) - since) / 1000)));
    slider.value = slider.max;
    open.hidden = true;
    controls.hidden = false;
    showLabel();
  });
  slider.addEventListener("input", () => {
    label.value = stamp(new Date(instant()).toISOString());
  });
  slider.addEventListener("change", () => show().catch((error) => console.warn("holdfire: replay failed", error)));
  live.addEventListener("click", () => {
    asked += 1;
    ctx.past = null;
    document.body.classList.remove("past");
    controls.hidden = true;
    open.hidden = false;
    ctx.metrics.replayShown = null;
    Promise.all([ctx.tracks.live(), ctx.measures.live()]).catch((error) => console.warn("holdfire: live reload failed", error));
  });
  onLanguage(() => {
    if (!controls.hidden) showLabel();
  });
}

registerStrings({
  en: {
    "replay.open": "Replay", "replay.live": "Live", "replay.slider": "The picture at an earlier time",
    "replay.past": "{at} · read-only",
  },
  ru: {
    "replay.open": "Разбор", "replay.live": "Сейчас", "replay.slider": "Обстановка на прошедший момент",
    "replay.past": "{at} · только просмотр",
  },
  uk: {
    "replay.open": "Розбір", "replay.live": "Зараз", "replay.slider": "Обстановка на минулий момент",
    "replay.past": "{at} · лише перегляд",
  },
  ko: {
    "replay.open": "재현", "replay.live": "실시간", "replay.slider": "지난 시점의 상황",
    "replay.past": "{at} · 읽기 전용",
  },
});
