// UI strings in English, Russian, Ukrainian and Korean. Each module registers its own table;
// a key missing in a language falls back to English, then to the key itself, so a gap shows
// up as text rather than as a blank.
export const LANGUAGES = { en: "English", ru: "Русский", uk: "Українська", ko: "한국어" };

const tables = { en: {}, ru: {}, uk: {}, ko: {} };
const listeners = [];
let current = pickStart();

function pickStart() {
  const kept = sessionStorage.getItem("holdfire.lang");
  if (kept && kept in LANGUAGES) return kept;
  const browser = (navigator.language || "en").slice(0, 2);
  return browser in LANGUAGES ? browser : "en";
}

export function registerStrings(table) {
  for (const [lang, strings] of Object.entries(table)) Object.assign(tables[lang], strings);
}

export function language() {
  return current;
}

export function t(key, vars = {}) {
  const text = tables[current][key] ?? tables.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : ""));
}

export function onLanguage(fn) {
  listeners.push(fn);
}

export function setLanguage(lang) {
  if (!(lang in LANGUAGES)) return;
  current = lang;
  sessionStorage.setItem("holdfire.lang", lang);
  document.documentElement.lang = lang;
  translate(document);
  for (const select of document.querySelectorAll("select.language")) select.value = lang;
  for (const fn of listeners) fn(lang);
}

// Elements carry their key: data-i18n (text), data-i18n-placeholder, data-i18n-title.
export function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

export function languageSelects() {
  for (const select of document.querySelectorAll("select.language")) {
    select.replaceChildren(
      ...Object.entries(LANGUAGES).map(([code, name]) => new Option(name, code)),
    );
    select.value = current;
    select.addEventListener("change", () => setLanguage(select.value));
  }
  document.documentElement.lang = current;
}

registerStrings({
  en: {
    "signin.lead": "Is it safe to fire here?",
    "signin.token": "Token",
    "signin.submit": "Sign in",
    "signin.bad": "This token is not valid (unknown or revoked).",
    "signin.failed": "The server could not be reached: {error}",
    language: "Language",
    signout: "Sign out",
    "stream.open": "live",
    "stream.connecting": "connecting…",
    "stream.lost": "stream lost, reconnecting…",
    "role.observer": "observer",
    "role.reporter": "reporter",
    "role.fires": "fires",
    "role.planner": "planner",
    "role.admin": "admin",
    "error.generic": "Error: {error}",
    close: "Close",
  },
  ru: {
    "signin.lead": "Безопасно ли открывать огонь здесь?",
    "signin.token": "Токен",
    "signin.submit": "Войти",
    "signin.bad": "Токен недействителен (неизвестен или отозван).",
    "signin.failed": "Сервер недоступен: {error}",
    language: "Язык",
    signout: "Выйти",
    "stream.open": "в эфире",
    "stream.connecting": "подключение…",
    "stream.lost": "поток потерян, переподключение…",
    "role.observer": "наблюдатель",
    "role.reporter": "донесения",
    "role.fires": "огневое планирование",
    "role.planner": "планировщик",
    "role.admin": "администратор",
    "error.generic": "Ошибка: {error}",
    close: "Закрыть",
  },
  uk: {
    "signin.lead": "Чи безпечно відкривати вогонь тут?",
    "signin.token": "Токен",
    "signin.submit": "Увійти",
    "signin.bad": "Токен недійсний (невідомий або відкликаний).",
    "signin.failed": "Сервер недоступний: {error}",
    language: "Мова",
    signout: "Вийти",
    "stream.open": "наживо",
    "stream.connecting": "з'єднання…",
    "stream.lost": "потік втрачено, повторне з'єднання…",
    "role.observer": "спостерігач",
    "role.reporter": "донесення",
    "role.fires": "вогневе планування",
    "role.planner": "планувальник",
    "role.admin": "адміністратор",
    "error.generic": "Помилка: {error}",
    close: "Закрити",
  },
  ko: {
    "signin.lead": "여기에 사격해도 안전한가?",
    "signin.token": "토큰",
    "signin.submit": "로그인",
    "signin.bad": "유효하지 않은 토큰입니다 (알 수 없거나 폐기됨).",
    "signin.failed": "서버에 연결할 수 없습니다: {error}",
    language: "언어",
    signout: "로그아웃",
    "stream.open": "실시간",
    "stream.connecting": "연결 중…",
    "stream.lost": "스트림 끊김, 재연결 중…",
    "role.observer": "관찰자",
    "role.reporter": "보고자",
    "role.fires": "화력",
    "role.planner": "계획관",
    "role.admin": "관리자",
    "error.generic": "오류: {error}",
    close: "닫기",
  },
});
