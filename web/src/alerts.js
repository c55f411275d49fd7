// The alerts panel: every alert as it is raised or acknowledged, open ones first, with its kind
// (the code and a short meaning), subjects by callsign, age, detail and state; an Acknowledge
// button for roles that may; the count of open alerts on the tab; a click on an alert pans the
// map to its first subject that has a track.
import { onLanguage, registerStrings, t } from "./i18n.js";
import { formatAge } from "./tracks.js";

const HISTORY = 100; // newest alerts of any state loaded beside every unacknowledged one
const AGE_REFRESH_MS = 10000;

const alerts = new Map(); // id -> the alert record as GET /alerts gives it
const items = new Map(); // id -> its list item

export function stateOf(alert) {
  if (alert.cleared_at) return "cleared";
  return alert.acked_at ? "acked" : "open";
}

// Open first, then newest first; ids break ties so the order never flickers.
function order(a, b) {
  const open = Number(stateOf(b) === "open") - Number(stateOf(a) === "open");
  return open || b.created_at.localeCompare(a.created_at) || a.id.localeCompare(b.id);
}

export function clockOf(iso) {
  return `${iso.slice(11, 19)}Z`;
}

// When, as the clock time (UTC) and how long ago.
export function stamp(iso) {
  return `${clockOf(iso)} · ${formatAge(Math.max(0, (Date.now() - Date.parse(iso)) / 1000))}`;
}

// A subject is a unit uid (shown by callsign) or the id of a check, measure, message or
// pairing (shown shortened, as the server's details do).
export function nameOf(ctx, id) {
  const known = ctx.tracks.units.get(id)?.callsign ?? ctx.tracks.get(id)?.p.callsign;
  return known ?? (id.length > 12 ? id.slice(0, 8) : id);
}

// A reporter acknowledges only alerts to or about its own units (the server refuses the rest).
function mayAck(ctx, alert) {
  if (!ctx.can("ack-alert")) return false;
  if (ctx.me.role !== "reporter") return true;
  return [...alert.subjects, ...alert.recipients].some((uid) => ctx.me.units.includes(uid));
}

function line(className, text) {
  const el = document.createElement("div");
  el.className = className;
  el.textContent = text;
  return el;
}

function fill(ctx, item, alert) {
  const state = stateOf(alert);
  const error = line("error", item.querySelector(".error")?.textContent || "");
  error.setAttribute("role", "alert");
  item.className = `alert-item ${state}`;
  item.dataset.state = state;
  item.dataset.kind = alert.kind;
  const head = document.createElement("div");
  head.className = "alert-head";
  const code = document.createElement("strong");
  code.className = "code";
  code.textContent = alert.kind;
  const meaning = document.createElement("span");
  meaning.className = "meaning";
  const key = `alert.kind.${alert.kind}`;
  meaning.textContent = t(key) === key ? "" : t(key);
  const age = document.createElement("span");
  age.className = "age";
  age.title = alert.created_at;
  age.textContent = stamp(alert.created_at);
  head.append(code, meaning, age);
  const parts = [head];
  if (alert.subjects.length) {
    const names = alert.subjects.map((id) => nameOf(ctx, id)).join(", ");
    parts.push(line("subjects", t("alerts.subjects", { names })));
  }
  if (alert.recipients.length) {
    const names = alert.recipients.map((id) => nameOf(ctx, id)).join(", ");
    parts.push(line("recipients", t("alerts.recipients", { names })));
  }
  if (alert.detail) parts.push(line("detail", alert.detail));
  const status = {
    open: () => t("alerts.state.open"),
    acked: () =>
      t("alerts.state.acked", { by: alert.acked_by || "?", at: clockOf(alert.acked_at) }),
    cleared: () => t("alerts.state.cleared", { at: clockOf(alert.cleared_at) }),
  }[state]();
  parts.push(line("state", status));
  if (state === "open" && mayAck(ctx, alert)) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "ack primary";
    button.textContent = t("alerts.ack");
    button.addEventListener("click", (event) => {
      event.stopPropagation(); // acknowledging is not a request to pan
      acknowledge(ctx, alert.id, button, error);
    });
    parts.push(button);
  }
  parts.push(error);
  item.replaceChildren(...parts);
}

async function acknowledge(ctx, id, button, error) {
  button.disabled = true;
  error.textContent = "";
  try {
    upsert(await ctx.api.post(`/alerts/${encodeURIComponent(id)}/ack`));
    render(ctx);
  } catch (failure) {
    button.disabled = false;
    error.textContent = t("error.generic", { error: failure.message });
  }
}

function upsert(record) {
  alerts.set(record.id, { ...alerts.get(record.id), ...record });
}

function itemFor(ctx, alert) {
  let item = items.get(alert.id);
  if (!item) {
    item = document.createElement("li");
    item.dataset.alertId = alert.id;
    item.addEventListener("click", () => panTo(ctx, alerts.get(alert.id)));
    items.set(alert.id, item);
  }
  fill(ctx, item, alert);
  return item;
}

function panTo(ctx, alert) {
  const track = alert.subjects.map((id) => ctx.tracks.get(id)).find(Boolean);
  if (track) ctx.map.panTo([track.lat, track.lon]);
}

let view = null; // {list, openOnly, empty, tab}

function render(ctx) {
  const shown = [...alerts.values()]
    .filter((alert) => !view.openOnly.checked || stateOf(alert) === "open")
    .sort(order);
  view.list.replaceChildren(...shown.map((alert) => itemFor(ctx, alert)));
  view.empty.hidden = shown.length > 0;
  const open = [...alerts.values()].filter((alert) => stateOf(alert) === "open").length;
  // The count is an attribute drawn by CSS: the tab's text is rewritten on a language change.
  if (open) view.tab().dataset.count = String(open);
  else delete view.tab().dataset.count;
  view.tab().title = t("alerts.open_count", { n: open });
}

async function load(ctx) {
  const [open, recent] = await Promise.all([
    ctx.api.all("/alerts", { unacked: true }),
    ctx.api.get("/alerts", { limit: HISTORY }),
  ]);
  alerts.clear();
  items.clear();
  for (const record of [...recent.items, ...open]) alerts.set(record.id, record);
  render(ctx);
}

async function onAlert(ctx, data) {
  if (data.update) {
    const known = alerts.get(data.id);
    if (known) upsert(data);
    else upsert(await ctx.api.get(`/alerts/${encodeURIComponent(data.id)}`));
  } else {
    upsert(data);
  }
  render(ctx);
}

export async function install(ctx) {
  const element = document.createElement("section");
  element.innerHTML = `
    <div class="row">
      <label class="inline"><input id="alerts-open-only" type="checkbox">
        <span data-i18n="alerts.open_only"></span></label>
    </div>
    <p class="muted" id="alerts-empty" data-i18n="alerts.none"></p>
    <ul id="alerts-list" class="alert-list"></ul>`;
  ctx.panels.add({ id: "alerts", title: "panel.alerts", element });
  view = {
    list: element.querySelector("#alerts-list"),
    openOnly: element.querySelector("#alerts-open-only"),
    empty: element.querySelector("#alerts-empty"),
    tab: () => document.querySelector('#tabs button[data-panel="alerts"]'),
  };
  view.openOnly.addEventListener("change", () => render(ctx));
  ctx.alerts = {
    list: () => [...alerts.values()].sort(order),
    get: (id) => alerts.get(id),
    openCount: () => [...alerts.values()].filter((alert) => stateOf(alert) === "open").length,
  };
  await load(ctx);
  ctx.bus.on("alert", (data) => onAlert(ctx, data));
  ctx.bus.on("resync", () => load(ctx));
  onLanguage(() => render(ctx));
  setInterval(() => {
    for (const [id, item] of items) {
      const alert = alerts.get(id);
      const age = item.querySelector(".age");
      if (alert && age) age.textContent = stamp(alert.created_at);
    }
  }, AGE_REFRESH_MS);
}

registerStrings({
  en: {
    "panel.alerts": "Alerts",
    "alerts.open_only": "Open only",
    "alerts.none": "No alerts.",
    "alerts.subjects": "Concerns: {names}",
    "alerts.recipients": "Addressed to: {names}",
    "alerts.state.open": "OPEN — not acknowledged",
    "alerts.state.acked": "Acknowledged by {by} at {at}",
    "alerts.state.cleared": "Cleared at {at}",
    "alerts.ack": "Acknowledge",
    "alerts.open_count": "{n} open alerts",
    "alert.kind.SECURITY": "security event: a refused request or a suspect position",
    "alert.kind.SEPARATION": "dismounts too far from their vehicle",
    "alert.kind.STALE": "unit not reporting; its position is ageing",
    "alert.kind.LOST": "unit lost: no reports for too long",
    "alert.kind.ACK_OVERDUE": "message not acknowledged in time",
    "alert.kind.CHECK_FIRE": "check fire called",
    "alert.kind.LOOKALIKE_ARRIVAL": "friend with enemy-lookalike equipment in the area",
    "alert.kind.HOLD_FIRED": "fired despite HOLD or an unaccepted DANGER CLOSE",
  },
  ru: {
    "panel.alerts": "Тревоги",
    "alerts.open_only": "Только открытые",
    "alerts.none": "Тревог нет.",
    "alerts.subjects": "Касается: {names}",
    "alerts.recipients": "Адресовано: {names}",
    "alerts.state.open": "ОТКРЫТА — не подтверждена",
    "alerts.state.acked": "Подтвердил {by} в {at}",
    "alerts.state.cleared": "Снята в {at}",
    "alerts.ack": "Подтвердить",
    "alerts.open_count": "Открытых тревог: {n}",
    "alert.kind.SECURITY": "событие безопасности: отклонённый запрос или подозрительная позиция",
    "alert.kind.SEPARATION": "спешенные слишком далеко от своей машины",
    "alert.kind.STALE": "подразделение не выходит на связь; позиция устаревает",
    "alert.kind.LOST": "подразделение потеряно: давно нет донесений",
    "alert.kind.ACK_OVERDUE": "сообщение не подтверждено вовремя",
    "alert.kind.CHECK_FIRE": "объявлено прекращение огня (CHECK FIRE)",
    "alert.kind.LOOKALIKE_ARRIVAL": "свои с техникой, похожей на технику противника, в районе",
    "alert.kind.HOLD_FIRED": "огонь открыт вопреки HOLD или непринятому DANGER CLOSE",
  },
  uk: {
    "panel.alerts": "Тривоги",
    "alerts.open_only": "Лише відкриті",
    "alerts.none": "Тривог немає.",
    "alerts.subjects": "Стосується: {names}",
    "alerts.recipients": "Адресовано: {names}",
    "alerts.state.open": "ВІДКРИТА — не підтверджена",
    "alerts.state.acked": "Підтвердив {by} о {at}",
    "alerts.state.cleared": "Знята о {at}",
    "alerts.ack": "Підтвердити",
    "alerts.open_count": "Відкритих тривог: {n}",
    "alert.kind.SECURITY": "подія безпеки: відхилений запит або підозріла позиція",
    "alert.kind.SEPARATION": "спішені надто далеко від своєї машини",
    "alert.kind.STALE": "підрозділ не виходить на зв'язок; позиція застаріває",
    "alert.kind.LOST": "підрозділ втрачено: давно немає донесень",
    "alert.kind.ACK_OVERDUE": "повідомлення не підтверджене вчасно",
    "alert.kind.CHECK_FIRE": "оголошено припинення вогню (CHECK FIRE)",
    "alert.kind.LOOKALIKE_ARRIVAL": "свої з технікою, схожою на техніку противника, у районі",
    "alert.kind.HOLD_FIRED": "вогонь відкрито всупереч HOLD або неприйнятому DANGER CLOSE",
  },
  ko: {
    "panel.alerts": "경보",
    "alerts.open_only": "미처리만",
    "alerts.none": "경보 없음.",
    "alerts.subjects": "대상: {names}",
    "alerts.recipients": "수신: {names}",
    "alerts.state.open": "미처리 — 확인되지 않음",
    "alerts.state.acked": "{by} 확인 ({at})",
    "alerts.state.cleared": "해제됨 ({at})",
    "alerts.ack": "확인",
    "alerts.open_count": "미처리 경보 {n}건",
    "alert.kind.SECURITY": "보안 사건: 거부된 요청 또는 의심스러운 위치",
    "alert.kind.SEPARATION": "하차 인원이 차량에서 너무 멀리 떨어짐",
    "alert.kind.STALE": "부대 보고 끊김; 위치 정보가 오래되는 중",
    "alert.kind.LOST": "부대 소실: 장시간 보고 없음",
    "alert.kind.ACK_OVERDUE": "메시지가 제때 확인되지 않음",
    "alert.kind.CHECK_FIRE": "사격 중지(CHECK FIRE) 발령",
    "alert.kind.LOOKALIKE_ARRIVAL": "적 장비와 닮은 장비를 가진 아군이 지역 내에 있음",
    "alert.kind.HOLD_FIRED": "HOLD 또는 승인되지 않은 DANGER CLOSE에도 사격함",
  },
});
