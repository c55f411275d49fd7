// The check tool: click the map or type a grid, choose weapon, target type and PID basis from
// the server's tables, and see the verdict as a banner (word, symbol and pattern, so it reads
// without colour vision), every reason, the footprint rings and a line to each unit in conflict.
// A fires user can record that the mission was fired. `showClearance` also serves the audit log.
import { formatDistance, latLonText, mgrsOf, targetOf } from "./geo.js";
import { onLanguage, registerStrings, t, translate } from "./i18n.js";
import { el } from "./dom.js";

// Glyphs DejaVu Sans has, so they show wherever the page does (no emoji font needed).
const SYMBOL = { HOLD: "⊘", DANGER_CLOSE: "⚠", COORDINATE: "☎", NO_KNOWN_CONFLICT: "○" };
const PID = ["appearance", "observer", "hostile-act", "sigint", "cooperative-id", "other"];
const WORST = ["red10_m", "red01_m", "danger_close_m", "cep_m"];

// The weapon's profile as the engine weighs it; an unknown id gets the table's worst values.
function profile(weapons, id) {
  const known = weapons.find((w) => w.id === id);
  if (known) return known;
  const worst = {};
  for (const field of WORST) worst[field] = Math.max(...weapons.map((w) => w[field]));
  return worst;
}

// The rings the engine uses for a fresh friend: HOLD inside RED 10 % + E, DANGER_CLOSE inside
// max(RED 0.1 %, danger close) + E, where E is the target error (TLE + CEP + cell + datum).
export function rings(weapons, clearance) {
  const w = profile(weapons, clearance.weapon);
  const r = clearance.request;
  const error = r.tle_m + w.cep_m + r.cell_m + r.datum_error_m;
  return { hold: w.red10_m + error, dangerClose: Math.max(w.red01_m, w.danger_close_m) + error };
}

export function banner(clearance) {
  const verdict = clearance.verdict;
  return el(
    "div",
    { class: `verdict ${verdict}`, role: "status", "data-verdict": verdict },
    el("span", { class: "symbol", "aria-hidden": "true", text: SYMBOL[verdict] || "?" }),
    el("span", { class: "word", text: verdict.replace(/_/g, " ") }),
    el("span", { class: "meaning", text: t(`verdict.${verdict}`) }),
  );
}

// A reason's subject is a unit or a measure: show its callsign or "KIND name".
function subjectName(ctx, id) {
  if (!id) return "";
  const unit = ctx.tracks.units.get(id);
  const track = ctx.tracks.get(id);
  const measure = ctx.measures && ctx.measures.get(id);
  if (measure) return `${measure.properties.kind} ${measure.properties.name || id}`;
  return (unit && unit.callsign) || (track && track.p.callsign) || id;
}

function reasonList(ctx, clearance) {
  const list = el("ol", { class: "reasons" });
  for (const reason of clearance.reasons) {
    const distance =
      reason.distance_m === null
        ? ""
        : reason.threshold_m === null
          ? ` · ${formatDistance(reason.distance_m)}`
          : ` · ${formatDistance(reason.distance_m)} / ${formatDistance(reason.threshold_m)}`;
    list.append(
      el(
        "li",
        { "data-code": reason.code, "data-subject": reason.subject || "" },
        el("span", { class: "code", text: reason.code }),
        ` (${reason.verdict}${reason.note ? `, ${t("check.note")}` : ""}) `,
        el("strong", { text: subjectName(ctx, reason.subject) }),
        distance,
        el("div", { text: reason.detail }),
      ),
    );
  }
  return list;
}

// Draws a check on the map: target, rings, and a line to each track a reason names.
function drawOnMap(ctx, layer, clearance) {
  layer.clearLayers();
  const target = [clearance.target.lat, clearance.target.lon];
  const { hold, dangerClose } = rings(ctx.tables.weapons, clearance);
  L.circle(target, { radius: dangerClose, pane: "checks", color: "#e60", weight: 2, dashArray: "10 6", fill: false })
    .bindTooltip(`DANGER CLOSE ${formatDistance(dangerClose)}`, { sticky: true })
    .addTo(layer);
  L.circle(target, { radius: hold, pane: "checks", color: "#c00", weight: 3, fillColor: "#c00", fillOpacity: 0.08 })
    .bindTooltip(`HOLD ${formatDistance(hold)}`, { sticky: true })
    .addTo(layer);
  L.circleMarker(target, { pane: "checks", radius: 6, color: "#000", weight: 2, fillColor: "#fff", fillOpacity: 1 })
    .bindTooltip(`${clearance.target.mgrs} · ${latLonText(...target)}`)
    .addTo(layer);
  const seen = new Set();
  for (const reason of clearance.reasons) {
    const track = reason.subject && ctx.tracks.get(reason.subject);
    if (!track || seen.has(reason.subject) || reason.distance_m === null) continue;
    seen.add(reason.subject);
    const to = [track.lat, track.lon];
    L.polyline([target, to], { pane: "checks", color: "#000", weight: 2, dashArray: "4 4" }).addTo(layer);
    L.marker([(target[0] + to[0]) / 2, (target[1] + to[1]) / 2], {
      pane: "checks",
      interactive: false,
      icon: L.divIcon({
        className: "distance-label",
        html: `${subjectName(ctx, reason.subject)} ${formatDistance(reason.distance_m)}`,
        iconSize: null,
      }),
    }).addTo(layer);
  }
}

export function showClearance(ctx, clearance, container) {
  drawOnMap(ctx, ctx.checkLayer, clearance);
  const when = new Date(clearance.evaluated_at).toISOString().replace("T", " ").slice(0, 19);
  const header = el(
    "div",
    { class: "check-target" },
    `${clearance.target.mgrs} · ${clearance.weapon} · ${when}Z · ${clearance.request.requester || ""}`,
  );
  container.replaceChildren(banner(clearance), header, reasonList(ctx, clearance));
  for (const fired of clearance.fired || []) {
    const text = t("check.fired_at", { at: fired.fired_at, by: fired.recorded_by });
    container.append(el("p", { class: "fired", text: `${text} ${fired.remarks}` }));
  }
  for (const decision of clearance.decisions || []) {
    const text = `${decision.kind}: ${decision.by} (${decision.authority}, ${decision.initials}) → ${decision.expires}`;
    container.append(el("p", { class: "decision", text }));
  }
  if (ctx.can("fired")) container.append(firedForm(ctx, clearance));
  const bounds = ctx.checkLayer.getLayers().find((l) => l instanceof L.Circle);
  if (bounds) ctx.map.fitBounds(bounds.getBounds().pad(0.3), { animate: false, maxZoom: 15 });
}

function firedForm(ctx, clearance) {
  const remarks = el("input", { type: "text", id: "fired-remarks", maxlength: "500", "data-i18n-placeholder": "check.remarks" });
  const button = el("button", { type: "button", id: "fired-record", "data-i18n": "check.record_fired" });
  const status = el("p", { class: "fired-status", role: "status" });
  button.addEventListener("click", async () => {
    try {
      await ctx.api.post(`/checks/${clearance.id}/fired`, { remarks: remarks.value });
      status.textContent = t("check.fired_recorded");
      button.disabled = true;
    } catch (failure) {
      status.textContent = t("error.generic", { error: failure.message });
    }
  });
  const box = el("div", { class: "row" }, remarks, button, status);
  translate(box);
  return box;
}

function form(ctx) {
  const weapons = ctx.tables.weapons.map((w) => new Option(`${w.id} — ${w.name}`, w.id));
  const types = [new Option("—", ""), ...ctx.tables.equipment.map((e) => new Option(`${e.id} (${e.family})`, e.id))];
  const pid = PID.map((basis) =>
    el("label", { class: "inline" }, el("input", { type: "checkbox", value: basis, name: "pid" }), el("span", { "data-i18n": `pid.${basis}` })),
  );
  const panel = el(
    "form",
    { id: "check-form", autocomplete: "off" },
    el("p", { class: "hint", "data-i18n": "check.hint" }),
    el("label", {}, el("span", { "data-i18n": "check.target" }), el("input", { id: "check-target", required: "", spellcheck: "false", "data-i18n-placeholder": "check.target_placeholder" })),
    el(
      "div",
      { class: "row" },
      el("label", {}, el("span", { "data-i18n": "check.datum" }), el("select", { id: "check-datum" }, new Option("WGS 84", "WGS84"), new Option("SK-42", "SK42"))),
      el("label", {}, el("span", { "data-i18n": "check.tle" }), el("input", { id: "check-tle", type: "number", min: "0", step: "1", value: "0" })),
    ),
    el("label", {}, el("span", { "data-i18n": "check.weapon" }), el("select", { id: "check-weapon" }, ...weapons)),
    el("label", {}, el("span", { "data-i18n": "check.type" }), el("select", { id: "check-type" }, ...types)),
    el("fieldset", { class: "pid" }, el("legend", { "data-i18n": "check.pid" }), ...pid),
    el("label", {}, el("span", { "data-i18n": "check.pid_detail" }), el("input", { id: "check-pid-detail", maxlength: "500" })),
    el("label", {}, el("span", { "data-i18n": "check.firing_unit" }), el("input", { id: "check-firing", list: "check-units", spellcheck: "false" })),
    el("datalist", { id: "check-units" }),
    el("button", { type: "submit", id: "check-run", class: "primary", "data-i18n": "check.run" }),
    el("p", { id: "check-error", class: "error", role: "alert" }),
  );
  return panel;
}

function request(panel) {
  const value = (id) => panel.querySelector(id).value.trim();
  const body = {
    target: targetOf(value("#check-target")),
    datum: value("#check-datum"),
    tle_m: Number(value("#check-tle") || 0),
    weapon: value("#check-weapon"),
    pid: [...panel.querySelectorAll("input[name=pid]:checked")].map((box) => box.value),
  };
  if (value("#check-type")) body.target_type = value("#check-type");
  if (value("#check-pid-detail")) body.pid_detail = value("#check-pid-detail");
  if (value("#check-firing")) body.firing_unit = value("#check-firing");
  return body;
}

export async function install(ctx) {
  const [weapons, equipment] = await Promise.all([ctx.api.get("/weapons"), ctx.api.get("/equipment")]);
  ctx.tables = { weapons: weapons.items, equipment: equipment.items };
  ctx.checkLayer = L.layerGroup().addTo(ctx.map);
  ctx.showClearance = (clearance, container) => showClearance(ctx, clearance, container);
  if (!ctx.can("check")) return; // an observer sees no check tool
  const panel = form(ctx);
  const result = el("div", { id: "check-result", "aria-live": "polite" });
  const holder = el("div", {}, panel, result);
  const units = panel.querySelector("#check-units");
  const pin = L.layerGroup().addTo(ctx.map);
  ctx.panels.add({
    id: "check",
    title: "panel.check",
    element: holder,
    onShow: () => {
      ctx.mapTool = "check";
      units.replaceChildren(...[...ctx.tracks.units.values()].map((u) => new Option(u.callsign, u.uid)));
    },
    onHide: () => {
      if (ctx.mapTool === "check") ctx.mapTool = null;
    },
  });
  ctx.map.on("click", (event) => {
    if (ctx.mapTool !== "check" || ctx.past) return; // a replay is read-only
    const { lat, lng } = event.latlng;
    panel.querySelector("#check-target").value = `${lat.toFixed(6)}, ${lng.toFixed(6)}`;
    pin.clearLayers();
    L.circleMarker([lat, lng], { pane: "checks", radius: 5, color: "#000", fillColor: "#ff0", fillOpacity: 1 })
      .bindTooltip(mgrsOf(lat, lng))
      .addTo(pin);
  });
  let last = null;
  panel.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = panel.querySelector("#check-error");
    error.textContent = "";
    try {
      last = await ctx.api.post("/checks", request(panel));
      pin.clearLayers();
      showClearance(ctx, last, result);
      result.scrollIntoView({ block: "start" });
    } catch (failure) {
      error.textContent = t("error.generic", { error: failure.message });
    }
  });
  onLanguage(() => {
    if (last) showClearance(ctx, last, result);
  });
  ctx.panels.show("check");
}

registerStrings({
  en: {
    "panel.check": "Check",
    "check.hint": "Click the map or type a grid (MGRS) or lat, lon.",
    "check.target": "Target", "check.target_placeholder": "36U XB 46257 90880 or 51.35, 35.10",
    "check.datum": "Datum", "check.tle": "Target location error (m)", "check.weapon": "Weapon",
    "check.type": "Target type (as seen)", "check.pid": "Positive identification based on",
    "check.pid_detail": "PID detail", "check.firing_unit": "Firing unit (uid)", "check.run": "Check",
    "check.note": "note", "check.remarks": "Remarks", "check.record_fired": "Record fired",
    "check.fired_recorded": "Fired recorded.", "check.fired_at": "Fired at {at} ({by})",
    "pid.appearance": "appearance", "pid.observer": "ground observer", "pid.hostile-act": "hostile act",
    "pid.sigint": "SIGINT", "pid.cooperative-id": "cooperative ID", "pid.other": "other",
    "verdict.HOLD": "Do not fire.",
    "verdict.DANGER_CLOSE": "Friendly forces within danger-close distance: the commander must accept the risk.",
    "verdict.COORDINATE": "Coordinate before firing.",
    "verdict.NO_KNOWN_CONFLICT": "No known conflict. This does not identify the target.",
  },
  ru: {
    "panel.check": "Проверка",
    "check.hint": "Щёлкните по карте или введите координаты (MGRS) либо широту, долготу.",
    "check.target": "Цель", "check.target_placeholder": "36U XB 46257 90880 или 51.35, 35.10",
    "check.datum": "Система координат", "check.tle": "Ошибка определения цели (м)", "check.weapon": "Средство поражения",
    "check.type": "Тип цели (по наблюдению)", "check.pid": "Основание опознавания",
    "check.pid_detail": "Подробности опознавания", "check.firing_unit": "Огневое подразделение (uid)", "check.run": "Проверить",
    "check.note": "примечание", "check.remarks": "Примечания", "check.record_fired": "Отметить выстрел",
    "check.fired_recorded": "Выстрел записан.", "check.fired_at": "Огонь открыт {at} ({by})",
    "pid.appearance": "внешний вид", "pid.observer": "наземный наблюдатель", "pid.hostile-act": "враждебные действия",
    "pid.sigint": "РЭР", "pid.cooperative-id": "система опознавания", "pid.other": "другое",
    "verdict.HOLD": "Огонь не открывать.",
    "verdict.DANGER_CLOSE": "Свои войска в опасной близости: риск должен принять командир.",
    "verdict.COORDINATE": "Согласуйте перед открытием огня.",
    "verdict.NO_KNOWN_CONFLICT": "Известных конфликтов нет. Это не опознавание цели.",
  },
  uk: {
    "panel.check": "Перевірка",
    "check.hint": "Клацніть на карті або введіть координати (MGRS) чи широту, довготу.",
    "check.target": "Ціль", "check.target_placeholder": "36U XB 46257 90880 або 51.35, 35.10",
    "check.datum": "Система координат", "check.tle": "Похибка визначення цілі (м)", "check.weapon": "Засіб ураження",
    "check.type": "Тип цілі (за спостереженням)", "check.pid": "Підстава розпізнавання",
    "check.pid_detail": "Подробиці розпізнавання", "check.firing_unit": "Вогневий підрозділ (uid)", "check.run": "Перевірити",
    "check.note": "примітка", "check.remarks": "Примітки", "check.record_fired": "Записати постріл",
    "check.fired_recorded": "Постріл записано.", "check.fired_at": "Вогонь відкрито {at} ({by})",
    "pid.appearance": "зовнішній вигляд", "pid.observer": "наземний спостерігач", "pid.hostile-act": "ворожі дії",
    "pid.sigint": "РЕР", "pid.cooperative-id": "система розпізнавання", "pid.other": "інше",
    "verdict.HOLD": "Вогонь не відкривати.",
    "verdict.DANGER_CLOSE": "Свої війська в небезпечній близькості: ризик має прийняти командир.",
    "verdict.COORDINATE": "Погодьте перед відкриттям вогню.",
    "verdict.NO_KNOWN_CONFLICT": "Відомих конфліктів немає. Це не розпізнавання цілі.",
  },
  ko: {
    "panel.check": "사격 확인",
    "check.hint": "지도를 클릭하거나 좌표(MGRS) 또는 위도, 경도를 입력하십시오.",
    "check.target": "표적", "check.target_placeholder": "36U XB 46257 90880 또는 51.35, 35.10",
    "check.datum": "측지계", "check.tle": "표적 위치 오차 (m)", "check.weapon": "무기",
    "check.type": "표적 유형 (관측)", "check.pid": "식별 근거",
    "check.pid_detail": "식별 세부 내용", "check.firing_unit": "사격 부대 (uid)", "check.run": "확인",
    "check.note": "참고", "check.remarks": "비고", "check.record_fired": "사격 기록",
    "check.fired_recorded": "사격이 기록되었습니다.", "check.fired_at": "{at} 사격 ({by})",
    "pid.appearance": "외형", "pid.observer": "지상 관측자", "pid.hostile-act": "적대 행위",
    "pid.sigint": "신호정보", "pid.cooperative-id": "피아식별 장치", "pid.other": "기타",
    "verdict.HOLD": "사격 금지.",
    "verdict.DANGER_CLOSE": "아군이 근접 위험 거리 안에 있음: 지휘관이 위험을 승인해야 함.",
    "verdict.COORDINATE": "사격 전에 협조하십시오.",
    "verdict.NO_KNOWN_CONFLICT": "알려진 충돌 없음. 표적 식별이 아님.",
  },
});
