// The audit log: every check, newest first, filtered by time, verdict and requester; new checks
// arrive live. Choosing a row shows that check on the map with its reasons and what was fired.
import { onLanguage, registerStrings, t, translate } from "./i18n.js";

const VERDICTS = ["HOLD", "DANGER_CLOSE", "COORDINATE", "NO_KNOWN_CONFLICT"];

function utc(local) {
  // datetime-local has no zone; the form's times are UTC, as everything in the API
  if (!local) return "";
  return local.length === 16 ? `${local}:00Z` : `${local}Z`;
}

function row(check) {
  const tr = document.createElement("tr");
  tr.dataset.check = check.id;
  const when = check.evaluated_at.replace("T", " ").slice(0, 19);
  for (const text of [when, check.verdict.replace(/_/g, " "), check.target.mgrs, check.weapon, check.request.requester || ""]) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  tr.classList.add(`v-${check.verdict}`);
  return tr;
}

export async function install(ctx) {
  const panel = document.createElement("div");
  panel.innerHTML = `
    <form id="audit-filter" class="row" autocomplete="off">
      <label><span data-i18n="audit.since"></span><input id="audit-since" type="datetime-local"></label>
      <label><span data-i18n="audit.until"></span><input id="audit-until" type="datetime-local"></label>
      <label><span data-i18n="audit.verdict"></span><select id="audit-verdict"></select></label>
      <label><span data-i18n="audit.requester"></span><input id="audit-requester" size="10"></label>
      <button type="submit" data-i18n="audit.apply"></button>
    </form>
    <p class="hint" data-i18n="audit.times_utc"></p>
    <table class="list" id="audit-table"><thead><tr>
      <th data-i18n="audit.time"></th><th data-i18n="audit.verdict"></th><th>MGRS</th>
      <th data-i18n="audit.weapon"></th><th data-i18n="audit.requester"></th></tr></thead>
      <tbody></tbody></table>
    <button type="button" id="audit-more" data-i18n="audit.more" hidden></button>
    <p id="audit-error" class="error" role="alert"></p>
    <div id="audit-detail"></div>`;
  const select = panel.querySelector("#audit-verdict");
  select.append(new Option("—", ""), ...VERDICTS.map((v) => new Option(v.replace(/_/g, " "), v)));
  const body = panel.querySelector("tbody");
  const more = panel.querySelector("#audit-more");
  const detail = panel.querySelector("#audit-detail");
  const error = panel.querySelector("#audit-error");
  let next = null;
  const filters = () => ({
    since: utc(panel.querySelector("#audit-since").value),
    until: utc(panel.querySelector("#audit-until").value),
    verdict: select.value,
    requester: panel.querySelector("#audit-requester").value.trim(),
  });
  async function load(append) {
    error.textContent = "";
    try {
      const page = await ctx.api.get("/checks", { ...filters(), limit: 50, cursor: append ? next : null });
      if (!append) body.replaceChildren();
      body.append(...page.items.map(row));
      next = page.next;
      more.hidden = !next;
    } catch (failure) {
      error.textContent = t("error.generic", { error: failure.message });
    }
  }
  panel.querySelector("#audit-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    load(false);
  });
  more.addEventListener("click", () => load(true));
  body.addEventListener("click", async (event) => {
    const tr = event.target.closest("tr");
    if (!tr) return;
    for (const other of body.querySelectorAll("tr.chosen")) other.classList.remove("chosen");
    tr.classList.add("chosen");
    try {
      ctx.showClearance(await ctx.api.get(`/checks/${tr.dataset.check}`), detail);
    } catch (failure) {
      error.textContent = t("error.generic", { error: failure.message });
    }
  });
  // A live check joins the top of the table when no filter would hide it.
  ctx.bus.on("check", (check) => {
    const f = filters();
    if (f.since || f.until || (f.verdict && f.verdict !== check.verdict)) return;
    if (f.requester && f.requester !== check.request.requester) return;
    body.prepend(row(check));
  });
  ctx.bus.on("resync", () => load(false));
  translate(panel);
  onLanguage(() => translate(panel));
  ctx.panels.add({ id: "audit", title: "panel.audit", element: panel, onShow: () => load(false) });
}

registerStrings({
  en: {
    "panel.audit": "Audit log", "audit.since": "From", "audit.until": "Until", "audit.verdict": "Verdict",
    "audit.requester": "Requester", "audit.apply": "Filter", "audit.time": "Time (UTC)", "audit.weapon": "Weapon",
    "audit.more": "More", "audit.times_utc": "Times are UTC.",
  },
  ru: {
    "panel.audit": "Журнал", "audit.since": "С", "audit.until": "До", "audit.verdict": "Решение",
    "audit.requester": "Запросил", "audit.apply": "Отобрать", "audit.time": "Время (UTC)", "audit.weapon": "Средство",
    "audit.more": "Ещё", "audit.times_utc": "Время указано в UTC.",
  },
  uk: {
    "panel.audit": "Журнал", "audit.since": "З", "audit.until": "До", "audit.verdict": "Рішення",
    "audit.requester": "Запитав", "audit.apply": "Відібрати", "audit.time": "Час (UTC)", "audit.weapon": "Засіб",
    "audit.more": "Ще", "audit.times_utc": "Час зазначено в UTC.",
  },
  ko: {
    "panel.audit": "감사 기록", "audit.since": "시작", "audit.until": "종료", "audit.verdict": "판정",
    "audit.requester": "요청자", "audit.apply": "필터", "audit.time": "시각 (UTC)", "audit.weapon": "무기",
    "audit.more": "더 보기", "audit.times_utc": "시각은 UTC 기준입니다.",
  },
});
