// The messages panel: a composer for catalog messages (recipient, message id, an input per typed
// parameter) with a live preview of the exact text each recipient will read, in its own
// language, beside the English; and the live list of deliveries with their acknowledgements.
// The preview is rendered here from the catalog's templates by the rules of
// holdfire.domain.catalog (validation, how numbers and grids are written, the language lookup,
// the English fallback), so what is shown is what is delivered; a send compares the two.
import { ApiError } from "./api.js";
import { LANGUAGES, language, onLanguage, registerStrings, t } from "./i18n.js";
import { clockOf, nameOf, stamp } from "./alerts.js";
import { el } from "./dom.js";

// ----------------------------------------------------------------- the catalog's rules, mirrored

const ENGLISH = "en";
const NO_ALTERNATIVE = "none";
const MISSING_VALUE = "—"; // an optional parameter left out
const MAX_TEXT = 500; // characters of a free-text parameter
const MAX_REF = 128; // characters of a unit or a message reference
// What Python's str.strip() removes and its \s matches (str.isspace): not JS's trim(), which
// keeps U+001C-U+001F and U+0085 and removes U+FEFF.
const SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const EDGES = new RegExp(`^[${SPACE}]+|[${SPACE}]+$`, "g");
const SPACES = new RegExp(`[${SPACE}]+`, "g");
const A_SPACE = new RegExp(`[${SPACE}]`);
const UTM_REF = /^(\d{1,2})([A-Z])([A-Z]{2})(\d*)$/;
const UPS_REF = /^([ABYZ])([A-Z]{2})(\d*)$/;
const BANDS = "CDEFGHJKLMNPQRSTUVWX";
const SQUARE_ROWS = "ABCDEFGHJKLMNPQRSTUV";
const PLACEHOLDER = /\{\{|\}\}|\{([a-z][a-z0-9_]*)\}/g;

export const strip = (text) => text.replace(EDGES, "");

// Locale-free, as format_number: 800 (800.0 too), 12.5, at most 6 decimals, never an exponent.
export function formatNumber(value) {
  if (Number.isInteger(value)) return BigInt(value).toString();
  return value.toFixed(6).replace(/0+$/, "").replace(/\.$/, "");
}

// parse_mgrs's checks of the form of a reference, in its order; the server also checks that the
// 100 km square exists in the zone and that the band fits the latitude.
function gridProblem(compact) {
  const utm = UTM_REF.exec(compact);
  const ref = utm || UPS_REF.exec(compact);
  if (!ref) return t("messages.grid.form");
  const [band, square, digits] = utm ? utm.slice(2) : ref.slice(1);
  if (utm) {
    const zone = Number(utm[1]);
    if (zone < 1 || zone > 60) return t("messages.grid.zone", { zone });
    if (!BANDS.includes(band)) return t("messages.grid.band", { band });
  }
  if (/[IO]/.test(square) || (utm && !SQUARE_ROWS.includes(square[1]))) {
    return t("messages.grid.square", { square });
  }
  if (!digits) return t("messages.grid.coarse");
  if (digits.length % 2) return t("messages.grid.odd", { n: digits.length });
  if (digits.length > 10) return t("messages.grid.long", { n: digits.length });
  return null;
}

function textValue(raw, limit, oneWord) {
  if (typeof raw !== "string" || !strip(raw)) return { error: t("messages.param.empty") };
  const value = strip(raw);
  const length = [...value].length; // code points, as Python's len
  if (length > limit) return { error: t("messages.param.long", { limit, n: length }) };
  if (oneWord && A_SPACE.test(value)) return { error: t("messages.param.one_word") };
  if (/[\r\n\t\0]/.test(value)) return { error: t("messages.param.one_line") };
  return { value };
}

// One parameter as _validate_value: {value} normalised, or {error}.
function validateValue(param, raw) {
  const number = typeof raw === "number" && Number.isFinite(raw);
  switch (param.type) {
    case "grid": {
      if (typeof raw !== "string") return { error: t("messages.grid.form") };
      const compact = raw.replace(SPACES, "").toUpperCase();
      const problem = gridProblem(compact);
      return problem ? { error: problem } : { value: compact };
    }
    case "minutes":
    case "count":
      return Number.isInteger(raw) && raw >= 0 ? { value: raw } : { error: t("messages.param.whole") };
    case "distance_m":
      return number && raw >= 0 ? { value: raw } : { error: t("messages.param.distance") };
    case "bearing_deg":
      return number && raw >= 0 && raw <= 360 ? { value: raw } : { error: t("messages.param.bearing") };
    case "enum": {
      const folded = typeof raw === "string" ? strip(raw).toLowerCase() : null;
      const value = param.values.find((v) => v.toLowerCase() === folded);
      return value === undefined ? { error: t("messages.param.enum", { values: param.values.join(", ") }) } : { value };
    }
    case "unit":
    case "ref":
      return textValue(raw, MAX_REF, param.type === "ref");
    default:
      return textValue(raw, MAX_TEXT, false);
  }
}

// As Catalog.validate_params: the typed values, and every problem by field.
export function validate(message, raw) {
  const values = {};
  const errors = [];
  const alternatives = message.one_of ? message.one_of.keys : [];
  for (const param of message.params) {
    const given = raw[param.key];
    if (given === null || given === undefined) {
      if (param.required && !alternatives.includes(param.key)) {
        errors.push({ field: `params.${param.key}`, message: t("messages.param.required") });
      }
      continue;
    }
    const checked = validateValue(param, given);
    if ("error" in checked) errors.push({ field: `params.${param.key}`, message: checked.error });
    else values[param.key] = checked.value;
  }
  const given = alternatives.filter((key) => raw[key] !== null && raw[key] !== undefined);
  if (given.length > 1) {
    errors.push({ field: "params", message: t("messages.param.not_both", { keys: alternatives.join(" / ") }) });
  } else if (!given.length && message.one_of && message.one_of.required) {
    errors.push({ field: "params", message: t("messages.param.one_of", { keys: alternatives.join(" / ") }) });
  }
  return { values, errors };
}

function display(param, value, rendering) {
  if (value === undefined) return MISSING_VALUE;
  if (param.type === "enum") return rendering.labels[param.key]?.[value] ?? value;
  return typeof value === "string" ? value : formatNumber(value);
}

function fillTemplate(template, message, values, rendering) {
  const shown = {};
  for (const param of message.params) shown[param.key] = display(param, values[param.key], rendering);
  return template.replace(PLACEHOLDER, (match, key) => (key ? shown[key] : match[0]));
}

// RFC 4647 lookup of a BCP 47 tag, as lookup_language: ko-KR -> ko; null when nothing matches.
export function lookupLanguage(tag, available) {
  const subtags = strip(tag).replaceAll("_", "-").toLowerCase().split("-");
  while (subtags.length && subtags[0]) {
    const candidate = subtags.join("-");
    if (available.includes(candidate)) return candidate;
    subtags.pop();
    if (subtags.length >= 2 && subtags[subtags.length - 1].length === 1) subtags.pop();
  }
  return null;
}

// As Catalog.render: the text in `tag`'s language, or English prefixed with [ID] without one.
export function render(catalog, message, values, tag) {
  const alternatives = message.one_of ? message.one_of.keys : [];
  const variant = alternatives.find((key) => key in values) ?? NO_ALTERNATIVE;
  const english = message.renderings[ENGLISH];
  const textEn = fillTemplate(english.text[variant], message, values, english);
  const matched = lookupLanguage(tag, catalog.languages);
  const rendering = matched === null ? undefined : message.renderings[matched];
  if (matched === null || matched === ENGLISH || rendering === undefined) {
    const fallback = matched !== ENGLISH;
    return {
      text: fallback ? `[${message.id}] ${textEn}` : textEn,
      textEn,
      back: textEn,
      language: ENGLISH,
      fallback,
      reviewed: english.reviewed,
    };
  }
  return {
    text: fillTemplate(rendering.text[variant], message, values, rendering),
    textEn,
    back: fillTemplate(rendering.back_translation[variant], message, values, english),
    language: matched,
    fallback: false,
    reviewed: rendering.reviewed,
  };
}

// The units an address reaches, as the coordinator's recipients(): active ones, never the sender.
function recipientsOf(ctx, to, sender) {
  const units = [...ctx.tracks.units.values()];
  let reached;
  if (to.startsWith("group:")) {
    reached = units.filter((unit) => unit.group === to.slice("group:".length));
  } else if (to.startsWith("pairing:")) {
    const pairing = state.pairings.find((p) => p.id === to.slice("pairing:".length));
    const uids = pairing ? [pairing.vehicle, ...pairing.dismounts] : [];
    reached = uids.map((uid) => ctx.tracks.units.get(uid)).filter(Boolean);
  } else {
    reached = [ctx.tracks.units.get(to)].filter(Boolean);
  }
  return reached
    .filter((unit) => unit.status === "active" && unit.uid !== sender)
    .sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
}

// --------------------------------------------------------------------------------- the composer

const LIST_MAX = 200; // deliveries kept in the list
const AGE_REFRESH_MS = 10000;
const SUFFIX = {
  minutes: "messages.suffix.min", distance_m: "messages.suffix.m", bearing_deg: "messages.suffix.deg",
};

const state = {
  catalog: null,
  pairings: [],
  status: null, // the last send: {id, n, differs: [names whose delivered text differs]}
  refused: null, // the server's message when it refused the last send
  preview: [], // [{language, text, text_en, back, reviewed, fallback, recipients: [uid]}]
  deliveries: new Map(), // id -> delivery
  items: new Map(), // delivery id -> its list item
};

// A label in the reader's language when the catalog has one, else the English one.
function renderingForUi(message) {
  return message.renderings[lookupLanguage(language(), Object.keys(message.renderings)) ?? ENGLISH];
}

function paramInput(message, param) {
  const attributes = { "data-param": param.key, id: `msg-param-${param.key}`, name: param.key };
  if (param.type === "enum") {
    const labels = renderingForUi(message).labels[param.key] || {};
    const options = param.values.map((value) => {
      const label = labels[value] && labels[value] !== value ? `${value} — ${labels[value]}` : value;
      return el("option", { value, text: label });
    });
    if (!param.required) options.unshift(el("option", { value: "", text: t("messages.not_given") }));
    return el("select", attributes, options);
  }
  if (["minutes", "count", "distance_m", "bearing_deg"].includes(param.type)) {
    const whole = param.type === "minutes" || param.type === "count";
    return el("input", {
      ...attributes, type: "number", min: 0, max: param.type === "bearing_deg" ? 360 : null,
      step: whole ? 1 : "any", inputmode: whole ? "numeric" : "decimal",
    });
  }
  const list = param.type === "unit" ? "msg-unit-names" : param.type === "ref" ? "msg-refs" : null;
  return el("input", {
    ...attributes, type: "text", list, spellcheck: "false", autocomplete: "off",
    maxlength: param.type === "text" ? MAX_TEXT : MAX_REF,
    placeholder: param.type === "grid" ? "36UXB5303396604" : null,
  });
}

function paramField(message, param) {
  const suffix = SUFFIX[param.type];
  const name = el("span", { class: "param-name" }, [
    el("code", { text: param.key }), ` · ${t(`messages.type.${param.type}`)}`,
    param.required || (message.one_of && message.one_of.keys.includes(param.key)) ? "" : ` (${t("messages.optional")})`,
  ]);
  const input = paramInput(message, param);
  const holder = suffix ? el("span", { class: "with-unit" }, [input, el("span", { text: t(suffix) })]) : input;
  return el("label", { class: "param", "data-key": param.key }, [
    name, holder, el("span", { class: "field-error", "data-for": `params.${param.key}` }),
  ]);
}

// The alternatives of a one-of group as radio buttons; only the chosen key's input is shown.
function alternativesField(message) {
  const keys = message.one_of.required ? message.one_of.keys : [NO_ALTERNATIVE, ...message.one_of.keys];
  const choices = keys.map((key, index) =>
    el("label", { class: "inline" }, [
      el("input", { type: "radio", name: "msg-oneof", value: key, checked: index === 0 }),
      key === NO_ALTERNATIVE ? t("messages.neither") : el("code", { text: key }),
    ]),
  );
  return el("fieldset", { class: "one-of" }, [
    el("legend", { text: t("messages.one_of", { keys: message.one_of.keys.join(" / ") }) }),
    ...choices,
    el("span", { class: "field-error", "data-for": "params" }),
  ]);
}

function chosenAlternative(form) {
  return form.querySelector('input[name="msg-oneof"]:checked')?.value ?? null;
}

// What the inputs hold: numbers as numbers, text as typed, null for what is not given.
function rawParams(form, message) {
  const raw = {};
  const chosen = chosenAlternative(form);
  for (const param of message.params) {
    if (message.one_of && message.one_of.keys.includes(param.key) && param.key !== chosen) continue;
    const input = form.querySelector(`[data-param="${param.key}"]`);
    if (input.type === "number") {
      raw[param.key] = input.value === "" && !input.validity.badInput ? null : input.valueAsNumber;
    } else {
      raw[param.key] = strip(input.value) === "" ? null : input.value;
    }
  }
  return raw;
}

function senderOf(ctx, form) {
  const from = form.querySelector("#msg-from");
  if (from.value) return from.value;
  return ctx.me.units.length === 1 ? ctx.me.units[0] : null;
}

function selectedMessage(form) {
  const code = form.querySelector("#msg-code").value;
  return state.catalog.messages.find((message) => message.id === code);
}

function fillRecipients(ctx, form) {
  const select = form.querySelector("#msg-to");
  const kept = select.value;
  const units = [...ctx.tracks.units.values()].sort((a, b) => a.callsign.localeCompare(b.callsign));
  const groups = [...new Set(units.map((unit) => unit.group).filter(Boolean))].sort();
  const option = (value, text) => el("option", { value, text });
  const unitText = (u) => `${u.callsign} (${u.uid}) · ${u.language}${u.status === "active" ? "" : ` · ${u.status}`}`;
  const members = (p) => [p.vehicle, ...p.dismounts].map((uid) => nameOf(ctx, uid)).join(", ");
  const sets = [
    el("optgroup", { label: t("messages.units") }, units.map((u) => option(u.uid, unitText(u)))),
    el("optgroup", { label: t("messages.groups") }, groups.map((g) => option(`group:${g}`, `group:${g}`))),
    el("optgroup", { label: t("messages.pairings") }, state.pairings.map((p) =>
      option(`pairing:${p.id}`, `pairing:${p.id.slice(0, 8)} · ${members(p)}`))),
  ];
  select.replaceChildren(option("", t("messages.choose")), ...sets.filter((set) => set.children.length));
  select.value = [...select.options].some((o) => o.value === kept) ? kept : "";
  form.querySelector("#msg-unit-names").replaceChildren(...units.map((u) => option(u.callsign, u.uid)));
}

function fillCodes(form) {
  const select = form.querySelector("#msg-code");
  const kept = select.value;
  const groups = new Map();
  for (const message of state.catalog.messages) {
    if (!groups.has(message.group)) groups.set(message.group, []);
    groups.get(message.group).push(el("option", { value: message.id, text: message.id }));
  }
  select.replaceChildren(
    ...[...groups].map(([group, options]) => el("optgroup", { label: t(`messages.group.${group}`) }, options)),
  );
  if (kept) select.value = kept;
}

function buildParams(form) {
  const message = selectedMessage(form);
  const holder = form.querySelector("#msg-params");
  const fields = message.params.map((param) => paramField(message, param));
  holder.replaceChildren(...(message.one_of ? [alternativesField(message)] : []), ...fields);
  const ui = renderingForUi(message);
  form.querySelector("#msg-gloss").textContent = `${t(`messages.priority.${message.priority}`)} — ${ui.gloss}`;
  form.querySelector("#msg-ack").checked = message.ack_required;
  showAlternative(form, message);
}

function showAlternative(form, message) {
  if (!message.one_of) return;
  const chosen = chosenAlternative(form);
  for (const key of message.one_of.keys) {
    form.querySelector(`label.param[data-key="${key}"]`).hidden = key !== chosen;
  }
}

function showErrors(form, errors) {
  for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const { field, message } of errors) {
    const slot = form.querySelector(`.field-error[data-for="${field}"]`);
    if (slot) slot.textContent = message;
    const key = field.startsWith("params.") ? field.slice("params.".length) : null;
    const input = key ? form.querySelector(`[data-param="${key}"]`) : form.querySelector(`#msg-${field}`);
    if (input) input.setAttribute("aria-invalid", "true");
  }
}

function attached(text, attachment) {
  return attachment ? `${text} — ${attachment}` : text;
}

// The preview: one block per distinct language the recipients read, and the English.
function updatePreview(ctx, form) {
  const box = form.querySelector("#msg-preview");
  const message = selectedMessage(form);
  const to = form.querySelector("#msg-to").value;
  const attachment = strip(form.querySelector("#msg-attachment").value);
  const { values, errors } = validate(message, rawParams(form, message));
  showErrors(form, errors);
  state.preview = [];
  const blocks = [el("div", { class: "preview-title", text: t("messages.preview") })];
  if (errors.length) {
    blocks.push(el("p", { class: "muted", text: t("messages.fix_first") }));
    box.replaceChildren(...blocks);
    return;
  }
  const recipients = to ? recipientsOf(ctx, to, senderOf(ctx, form)) : [];
  const byLanguage = new Map();
  for (const unit of recipients) {
    const rendered = render(state.catalog, message, values, unit.language);
    const key = `${rendered.language}|${rendered.fallback}`;
    if (!byLanguage.has(key)) byLanguage.set(key, { ...rendered, asked: unit.language, recipients: [] });
    byLanguage.get(key).recipients.push(unit.uid);
  }
  if (!to) blocks.push(el("p", { class: "muted", text: t("messages.choose_to") }));
  else if (!recipients.length) blocks.push(el("p", { class: "error", text: t("messages.nobody") }));
  for (const rendered of byLanguage.values()) {
    const entry = {
      language: rendered.language, text: attached(rendered.text, attachment),
      text_en: attached(rendered.textEn, attachment), back: attached(rendered.back, attachment),
      reviewed: rendered.reviewed, fallback: rendered.fallback, recipients: rendered.recipients,
    };
    state.preview.push(entry);
    const head = [
      el("strong", { text: `${LANGUAGES[entry.language] || entry.language} (${entry.language})` }),
      ` → ${entry.recipients.map((uid) => nameOf(ctx, uid)).join(", ")}`,
    ];
    if (!entry.reviewed) head.push(" ", el("span", { class: "unreviewed", text: t("messages.unreviewed") }));
    const parts = [el("div", { class: "preview-head" }, head)];
    if (entry.fallback) {
      parts.push(el("div", { class: "warning", text: t("messages.fallback", { language: rendered.asked }) }));
    }
    const language = entry.language;
    parts.push(el("div", { class: "preview-text", "data-language": language, lang: language, text: entry.text }));
    if (entry.language !== ENGLISH) {
      parts.push(el("div", { class: "back", text: t("messages.back", { text: entry.back }) }));
    }
    blocks.push(el("div", { class: "preview-block" }, parts));
  }
  const english = render(state.catalog, message, values, ENGLISH);
  blocks.push(
    el("div", { class: "preview-block english" }, [
      el("div", { class: "preview-head" }, [el("strong", { text: t("messages.english") })]),
      el("div", { class: "preview-text-en", lang: ENGLISH, text: attached(english.textEn, attachment) }),
    ]),
  );
  box.replaceChildren(...blocks);
}

// What the last send did, in the reader's language (kept across a language change); a refusal
// is shown until the form is changed.
function showStatus(form) {
  const status = form.querySelector("#msg-status");
  const sent = state.status;
  status.textContent = sent ? t("messages.sent", { id: sent.id.slice(0, 8), n: sent.n }) : "";
  status.dataset.messageId = sent ? sent.id : "";
  const differs = sent && sent.differs.length ? t("messages.differs", { names: sent.differs.join(", ") }) : "";
  const refused = state.refused ? t("error.generic", { error: state.refused }) : "";
  form.querySelector("#msg-error").textContent = refused || differs;
}

async function send(ctx, form) {
  const message = selectedMessage(form);
  state.status = null;
  state.refused = null;
  showStatus(form);
  const to = form.querySelector("#msg-to").value;
  if (!to) {
    showErrors(form, [{ field: "to", message: t("messages.choose_to") }]);
    return;
  }
  const params = {};
  for (const [key, value] of Object.entries(rawParams(form, message))) {
    if (value !== null) params[key] = typeof value === "string" ? strip(value) : value;
  }
  const body = { to, code: message.id, params, ack_required: form.querySelector("#msg-ack").checked };
  const attachment = strip(form.querySelector("#msg-attachment").value);
  if (attachment) body.attachment = attachment;
  const from = form.querySelector("#msg-from").value;
  if (from) body.sender_uid = from;
  const expected = new Map(state.preview.flatMap((entry) => entry.recipients.map((uid) => [uid, entry.text])));
  const button = form.querySelector("#msg-send");
  button.disabled = true;
  try {
    const sent = await ctx.api.post("/messages", body);
    for (const delivery of sent.deliveries) upsertDelivery(ctx, delivery);
    // The preview is rendered here, the delivery on the server: say so if they ever differ.
    const differs = sent.deliveries.filter((d) => expected.get(d.to) !== d.text).map((d) => nameOf(ctx, d.to));
    state.status = { id: sent.id, n: sent.deliveries.length, differs };
    showStatus(form);
  } catch (failure) {
    const field = failure instanceof ApiError ? failure.field : null;
    if (field) showErrors(form, [{ field, message: failure.message }]);
    state.refused = failure.message;
    showStatus(form);
  } finally {
    button.disabled = false;
  }
}

function composer(ctx) {
  const form = el("form", { id: "msg-form", class: "composer", novalidate: true, autocomplete: "off" });
  form.innerHTML = `
    <h3 data-i18n="messages.compose"></h3>
    <label id="msg-from-label" hidden><span data-i18n="messages.from"></span>
      <select id="msg-from"></select><span class="field-error" data-for="sender_uid"></span></label>
    <label><span data-i18n="messages.to"></span><select id="msg-to"></select>
      <span class="field-error" data-for="to"></span></label>
    <label><span data-i18n="messages.code"></span><select id="msg-code"></select>
      <span class="field-error" data-for="code"></span></label>
    <p id="msg-gloss" class="gloss"></p>
    <div id="msg-params" class="params"></div>
    <label><span data-i18n="messages.attachment"></span>
      <input id="msg-attachment" type="text" maxlength="2000" spellcheck="false"></label>
    <label class="inline"><input id="msg-ack" type="checkbox"> <span data-i18n="messages.ack_required"></span></label>
    <div id="msg-preview" class="preview" aria-live="polite"></div>
    <div class="row"><button id="msg-send" type="submit" class="primary" data-i18n="messages.send"></button></div>
    <p id="msg-error" class="error" role="alert"></p>
    <p id="msg-status" class="status" role="status"></p>
    <datalist id="msg-unit-names"></datalist><datalist id="msg-refs"></datalist>`;
  // A token bound to several units says which one speaks (a reporter must).
  if (ctx.me.units.length > 1) {
    const from = form.querySelector("#msg-from");
    if (ctx.me.role !== "reporter") from.append(el("option", { value: "", text: "—" }));
    from.append(...ctx.me.units.map((uid) => el("option", { value: uid, text: uid })));
    form.querySelector("#msg-from-label").hidden = false;
  }
  fillCodes(form);
  buildParams(form);
  // A select fires "input" too, before "change": the inputs follow the message chosen first.
  form.addEventListener("input", (event) => {
    if (event.target.id === "msg-code") buildParams(form);
    if (event.target.name === "msg-oneof") showAlternative(form, selectedMessage(form));
    if (state.refused) {
      state.refused = null;
      showStatus(form);
    }
    updatePreview(ctx, form);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(ctx, form);
  });
  return form;
}

// ------------------------------------------------------------------------------- the deliveries

const pending = (delivery) => delivery.ack_required && !delivery.acked_at;

// A planner or admin acknowledges for any recipient, a reporter for its own units.
function mayAck(ctx, delivery) {
  return ctx.can("ack-for-others") || (ctx.me.role === "reporter" && ctx.me.units.includes(delivery.to));
}

let list = null; // {list, pendingOnly, to, empty, refs}

function matches(delivery) {
  return (!list.pendingOnly.checked || pending(delivery)) && (!list.to.value || delivery.to === list.to.value);
}

function deliveryItem(ctx, delivery) {
  let item = state.items.get(delivery.id);
  if (!item) {
    item = el("li", { "data-delivery-id": delivery.id });
    state.items.set(delivery.id, item);
  }
  const error = el("div", { class: "error", role: "alert", text: item.querySelector(".error")?.textContent || "" });
  item.className = `delivery-item ${pending(delivery) ? "pending" : delivery.acked_at ? "acked" : "no-ack"}`;
  const head = el("div", { class: "delivery-head" }, [
    el("strong", { class: "code", text: delivery.code }),
    ` → ${nameOf(ctx, delivery.to)} (${delivery.to}) · `,
    el("span", { class: "language", text: delivery.language }),
    delivery.fallback ? el("span", { class: "warning", text: ` ${t("messages.fallback_short")}` }) : "",
    el("span", { class: "age", title: delivery.sent_at, text: stamp(delivery.sent_at) }),
  ]);
  const parts = [
    head,
    el("div", { class: "text", lang: delivery.language, text: delivery.text }),
  ];
  if (delivery.language !== ENGLISH || delivery.text !== delivery.text_en) {
    parts.push(el("div", { class: "text-en", lang: ENGLISH, text: delivery.text_en }));
  }
  let ackState;
  if (!delivery.ack_required) ackState = t("messages.no_ack");
  else if (delivery.acked_at) {
    ackState = t("messages.acked", { by: delivery.acked_by || "?", at: clockOf(delivery.acked_at) });
  } else ackState = t("messages.pending", { n: delivery.attempts });
  if (delivery.escalated_at && pending(delivery)) {
    ackState += ` · ${t("messages.escalated", { at: clockOf(delivery.escalated_at) })}`;
  }
  parts.push(el("div", { class: "state", text: ackState }));
  if (pending(delivery) && mayAck(ctx, delivery)) {
    const button = el("button", { type: "button", class: "ack", text: t("messages.ack") });
    button.addEventListener("click", async () => {
      button.disabled = true;
      error.textContent = "";
      try {
        const acked = await ctx.api.post(`/messages/${encodeURIComponent(delivery.id)}/ack`);
        for (const d of acked.items) upsertDelivery(ctx, d);
      } catch (failure) {
        button.disabled = false;
        error.textContent = t("error.generic", { error: failure.message });
      }
    });
    parts.push(button);
  }
  parts.push(error);
  item.replaceChildren(...parts);
  return item;
}

function renderDeliveries(ctx) {
  const shown = [...state.deliveries.values()]
    .sort((a, b) => b.sent_at.localeCompare(a.sent_at) || a.id.localeCompare(b.id))
    .slice(0, LIST_MAX);
  const kept = new Set(shown.map((d) => d.id));
  for (const id of state.deliveries.keys()) {
    if (!kept.has(id)) {
      state.deliveries.delete(id);
      state.items.delete(id);
    }
  }
  list.list.replaceChildren(...shown.map((d) => deliveryItem(ctx, d)));
  list.empty.hidden = shown.length > 0;
  const refs = [...new Set(shown.map((d) => d.message_id))];
  list.refs?.replaceChildren(...refs.map((id) => el("option", { value: id })));
}

function upsertDelivery(ctx, delivery) {
  if (matches(delivery)) state.deliveries.set(delivery.id, delivery);
  else state.deliveries.delete(delivery.id);
  renderDeliveries(ctx);
}

async function loadDeliveries(ctx) {
  const page = await ctx.api.get("/messages", {
    limit: LIST_MAX, pending: list.pendingOnly.checked ? "true" : null, to: list.to.value || null,
  });
  state.deliveries.clear();
  state.items.clear();
  for (const delivery of page.items) state.deliveries.set(delivery.id, delivery);
  renderDeliveries(ctx);
}

function fillFilter(ctx) {
  const kept = list.to.value;
  const units = [...ctx.tracks.units.values()].sort((a, b) => a.callsign.localeCompare(b.callsign));
  list.to.replaceChildren(
    el("option", { value: "", text: t("messages.everyone") }),
    ...units.map((u) => el("option", { value: u.uid, text: `${u.callsign} (${u.uid})` })),
  );
  list.to.value = kept;
}

// ----------------------------------------------------------------------------------- the panel

// After a language change: the same message and values, with the labels in the new language.
function retranslate(ctx, form) {
  const message = selectedMessage(form);
  const raw = rawParams(form, message);
  const chosen = chosenAlternative(form);
  fillCodes(form);
  buildParams(form);
  const radio = form.querySelector(`input[name="msg-oneof"][value="${chosen}"]`);
  if (radio) radio.checked = true;
  showAlternative(form, message);
  for (const [key, value] of Object.entries(raw)) {
    if (value !== null) form.querySelector(`[data-param="${key}"]`).value = value;
  }
  fillRecipients(ctx, form);
  updatePreview(ctx, form);
  showStatus(form);
}

export async function install(ctx) {
  state.catalog = await ctx.api.get("/catalog");
  const form = ctx.can("message") ? composer(ctx) : null;
  const deliveries = el("div", { class: "deliveries" });
  deliveries.innerHTML = `
    <h3 data-i18n="messages.deliveries"></h3>
    <div class="row">
      <label class="inline"><input id="msg-pending-only" type="checkbox">
        <span data-i18n="messages.pending_only"></span></label>
      <label><span data-i18n="messages.filter_to"></span><select id="msg-filter-to"></select></label>
    </div>
    <p id="msg-empty" class="muted" data-i18n="messages.none"></p>
    <ul id="deliveries" class="delivery-list"></ul>`;
  const element = el("section", {}, form ? [form, deliveries] : [deliveries]);
  list = {
    list: deliveries.querySelector("#deliveries"),
    pendingOnly: deliveries.querySelector("#msg-pending-only"),
    to: deliveries.querySelector("#msg-filter-to"),
    empty: deliveries.querySelector("#msg-empty"),
    refs: form?.querySelector("#msg-refs"), // message ids offered to a ref parameter
  };
  // Units, groups and pairings change while the page is open: re-read them when shown.
  const refresh = async () => {
    fillFilter(ctx);
    if (!form) return;
    state.pairings = await ctx.api.all("/pairings");
    fillRecipients(ctx, form);
    updatePreview(ctx, form);
  };
  const refreshQuietly = () =>
    refresh().catch((error) => console.error("holdfire: messages refresh failed", error));
  await refresh();
  await loadDeliveries(ctx);
  ctx.panels.add({ id: "messages", title: "panel.messages", element, onShow: refreshQuietly });
  list.pendingOnly.addEventListener("change", () => loadDeliveries(ctx));
  list.to.addEventListener("change", () => loadDeliveries(ctx));
  ctx.bus.on("message", (delivery) => upsertDelivery(ctx, delivery));
  ctx.bus.on("resync", () => {
    loadDeliveries(ctx);
    refreshQuietly();
  });
  onLanguage(() => {
    renderDeliveries(ctx);
    fillFilter(ctx);
    if (form) retranslate(ctx, form);
  });
  setInterval(() => {
    for (const [id, item] of state.items) {
      const delivery = state.deliveries.get(id);
      const age = item.querySelector(".age");
      if (delivery && age) age.textContent = stamp(delivery.sent_at);
    }
  }, AGE_REFRESH_MS);
  ctx.messages = {
    catalog: () => state.catalog,
    preview: () => state.preview,
    deliveries: () => [...state.deliveries.values()],
    // The client-side rendering alone, for the tests: {text, textEn, ...} or {errors}.
    render: (code, params, tag) => {
      const message = state.catalog.messages.find((m) => m.id === code);
      const { values, errors } = validate(message, params);
      return errors.length ? { errors } : render(state.catalog, message, values, tag);
    },
  };
}

registerStrings({
  en: {
    "panel.messages": "Messages",
    "messages.compose": "Send a message",
    "messages.from": "From (unit)",
    "messages.to": "To",
    "messages.code": "Message",
    "messages.choose": "— choose a recipient —",
    "messages.choose_to": "Choose a recipient to see the text it will get.",
    "messages.units": "Units",
    "messages.groups": "Groups",
    "messages.pairings": "Pairings",
    "messages.attachment": "Attachment (free text, not translated)",
    "messages.ack_required": "Acknowledgement required",
    "messages.send": "Send",
    "messages.preview": "PREVIEW — exactly what each recipient gets",
    "messages.fix_first": "Correct the parameters marked above to see the text.",
    "messages.nobody": "Nobody would receive it: no active unit at this address (the sender excluded).",
    "messages.unreviewed": "unreviewed translation",
    "messages.fallback": "No rendering in “{language}”: this recipient gets the English text with the message id.",
    "messages.fallback_short": "(English fallback)",
    "messages.back": "Back-translation: {text}",
    "messages.english": "English (sent beside every rendering)",
    "messages.sent": "Sent: message {id}; deliveries: {n}.",
    "messages.differs": "Warning: the text delivered to {names} differs from the preview; read the delivery below.",
    "messages.optional": "optional",
    "messages.not_given": "— not given —",
    "messages.neither": "neither",
    "messages.one_of": "Give one of: {keys}",
    "messages.deliveries": "Deliveries",
    "messages.pending_only": "Awaiting acknowledgement only",
    "messages.filter_to": "Recipient",
    "messages.everyone": "all recipients",
    "messages.none": "No deliveries.",
    "messages.no_ack": "no acknowledgement required",
    "messages.acked": "Acknowledged by {by} at {at}",
    "messages.pending": "AWAITING ACKNOWLEDGEMENT (sent {n}×)",
    "messages.escalated": "escalated at {at}",
    "messages.ack": "Ack",
    "messages.suffix.min": "min",
    "messages.suffix.m": "m",
    "messages.suffix.deg": "°",
    "messages.type.grid": "MGRS grid",
    "messages.type.minutes": "minutes",
    "messages.type.distance_m": "distance, metres",
    "messages.type.count": "number",
    "messages.type.bearing_deg": "bearing, degrees (not mils)",
    "messages.type.unit": "unit (uid or callsign)",
    "messages.type.enum": "choice",
    "messages.type.text": "free text, not translated",
    "messages.type.ref": "message id",
    "messages.group.movement": "Movement",
    "messages.group.fire": "Fires",
    "messages.group.casualty": "Casualties",
    "messages.group.contact": "Contact",
    "messages.group.logistics": "Logistics",
    "messages.group.protocol": "Procedure replies",
    "messages.group.coordination": "Coordination prompts",
    "messages.priority.safety": "SAFETY",
    "messages.priority.urgent": "URGENT",
    "messages.priority.routine": "routine",
    "messages.param.required": "is required",
    "messages.param.whole": "must be a whole number ≥ 0",
    "messages.param.distance": "must be a number of metres ≥ 0",
    "messages.param.bearing": "must be in degrees 0–360 (not mils)",
    "messages.param.enum": "must be one of {values}",
    "messages.param.empty": "must not be empty",
    "messages.param.long": "must be at most {limit} characters (now {n})",
    "messages.param.one_word": "must be one word, without spaces",
    "messages.param.one_line": "must be one line (no tabs or line breaks)",
    "messages.param.one_of": "give one of {keys}",
    "messages.param.not_both": "give only one of {keys}",
    "messages.grid.form": "is not an MGRS grid: zone, band letter, two square letters, digits (e.g. 36UXB5303396604)",
    "messages.grid.zone": "zone {zone} does not exist: zones run from 1 to 60",
    "messages.grid.band": "band letter {band} does not exist: bands run from C to X, without I and O",
    "messages.grid.square": "100 km square {square} does not exist: no I or O, and the second letter runs from A to V",
    "messages.grid.coarse": "a 100 km square alone is too coarse: add 1 to 5 digits each of easting and northing",
    "messages.grid.odd": "has an odd number of digits ({n}): easting and northing need as many digits each",
    "messages.grid.long": "has {n} digits: at most 10 (5 each, a 1 m cell)",
  },
  ru: {
    "panel.messages": "Сообщения",
    "messages.compose": "Отправить сообщение",
    "messages.from": "От (подразделение)",
    "messages.to": "Кому",
    "messages.code": "Сообщение",
    "messages.choose": "— выберите получателя —",
    "messages.choose_to": "Выберите получателя, чтобы увидеть текст, который он получит.",
    "messages.units": "Подразделения",
    "messages.groups": "Группы",
    "messages.pairings": "Связки",
    "messages.attachment": "Приложение (свободный текст, без перевода)",
    "messages.ack_required": "Требуется квитанция",
    "messages.send": "Отправить",
    "messages.preview": "ПРЕДПРОСМОТР — точно то, что получит каждый адресат",
    "messages.fix_first": "Исправьте отмеченные выше параметры, чтобы увидеть текст.",
    "messages.nobody": "Никто не получит: по этому адресу нет действующих подразделений (кроме отправителя).",
    "messages.unreviewed": "перевод не проверен",
    "messages.fallback": "Нет текста на «{language}»: этот адресат получит английский текст с кодом сообщения.",
    "messages.fallback_short": "(английский вместо родного)",
    "messages.back": "Обратный перевод: {text}",
    "messages.english": "Английский (передаётся вместе с каждым переводом)",
    "messages.sent": "Отправлено: сообщение {id}, доставок: {n}.",
    "messages.differs": "Внимание: текст, доставленный {names}, отличается от предпросмотра; сверьте с доставкой ниже.",
    "messages.optional": "необязательно",
    "messages.not_given": "— не указано —",
    "messages.neither": "ничего",
    "messages.one_of": "Укажите одно из: {keys}",
    "messages.deliveries": "Доставки",
    "messages.pending_only": "Только ожидающие квитанции",
    "messages.filter_to": "Адресат",
    "messages.everyone": "все адресаты",
    "messages.none": "Доставок нет.",
    "messages.no_ack": "квитанция не требуется",
    "messages.acked": "Квитировал {by} в {at}",
    "messages.pending": "ОЖИДАЕТ КВИТАНЦИИ (передач: {n})",
    "messages.escalated": "доложено старшему в {at}",
    "messages.ack": "Квитировать",
    "messages.suffix.min": "мин",
    "messages.suffix.m": "м",
    "messages.suffix.deg": "°",
    "messages.type.grid": "координаты MGRS",
    "messages.type.minutes": "минуты",
    "messages.type.distance_m": "дальность, метры",
    "messages.type.count": "количество",
    "messages.type.bearing_deg": "азимут, градусы (не тысячные)",
    "messages.type.unit": "подразделение (uid или позывной)",
    "messages.type.enum": "выбор",
    "messages.type.text": "свободный текст, без перевода",
    "messages.type.ref": "код сообщения",
    "messages.group.movement": "Передвижение",
    "messages.group.fire": "Огонь",
    "messages.group.casualty": "Потери",
    "messages.group.contact": "Соприкосновение",
    "messages.group.logistics": "Тыловое обеспечение",
    "messages.group.protocol": "Служебные ответы",
    "messages.group.coordination": "Запросы координации",
    "messages.priority.safety": "БЕЗОПАСНОСТЬ",
    "messages.priority.urgent": "СРОЧНО",
    "messages.priority.routine": "обычное",
    "messages.param.required": "обязательно",
    "messages.param.whole": "должно быть целым числом ≥ 0",
    "messages.param.distance": "должно быть числом метров ≥ 0",
    "messages.param.bearing": "должно быть в градусах 0–360 (не в тысячных)",
    "messages.param.enum": "должно быть одним из: {values}",
    "messages.param.empty": "не должно быть пустым",
    "messages.param.long": "не более {limit} символов (сейчас {n})",
    "messages.param.one_word": "должно быть одним словом, без пробелов",
    "messages.param.one_line": "должно быть одной строкой (без табуляций и переносов)",
    "messages.param.one_of": "укажите одно из: {keys}",
    "messages.param.not_both": "укажите только одно из: {keys}",
    "messages.grid.form": "это не координаты MGRS: зона, буква пояса, две буквы квадрата, цифры (например, 36UXB5303396604)",
    "messages.grid.zone": "зоны {zone} нет: зоны от 1 до 60",
    "messages.grid.band": "пояса {band} нет: пояса от C до X, без I и O",
    "messages.grid.square": "100-км квадрата {square} нет: без I и O, вторая буква от A до V",
    "messages.grid.coarse": "одного 100-км квадрата мало: добавьте от 1 до 5 цифр восточной и северной координаты",
    "messages.grid.odd": "нечётное число цифр ({n}): у восточной и северной координаты цифр должно быть поровну",
    "messages.grid.long": "цифр {n}: не более 10 (по 5, квадрат 1 м)",
  },
  uk: {
    "panel.messages": "Повідомлення",
    "messages.compose": "Надіслати повідомлення",
    "messages.from": "Від (підрозділ)",
    "messages.to": "Кому",
    "messages.code": "Повідомлення",
    "messages.choose": "— оберіть адресата —",
    "messages.choose_to": "Оберіть адресата, щоб побачити текст, який він отримає.",
    "messages.units": "Підрозділи",
    "messages.groups": "Групи",
    "messages.pairings": "Зв'язки",
    "messages.attachment": "Додаток (вільний текст, без перекладу)",
    "messages.ack_required": "Потрібна квитанція",
    "messages.send": "Надіслати",
    "messages.preview": "ПОПЕРЕДНІЙ ПЕРЕГЛЯД — саме те, що отримає кожен адресат",
    "messages.fix_first": "Виправте позначені вище параметри, щоб побачити текст.",
    "messages.nobody": "Ніхто не отримає: за цією адресою немає діючих підрозділів (крім відправника).",
    "messages.unreviewed": "переклад не перевірено",
    "messages.fallback": "Немає тексту мовою «{language}»: цей адресат отримає англійський текст із кодом повідомлення.",
    "messages.fallback_short": "(англійська замість рідної)",
    "messages.back": "Зворотний переклад: {text}",
    "messages.english": "Англійська (передається разом із кожним перекладом)",
    "messages.sent": "Надіслано: повідомлення {id}, доставок: {n}.",
    "messages.differs": "Увага: текст, доставлений {names}, відрізняється від попереднього перегляду; звірте з доставкою нижче.",
    "messages.optional": "необов'язково",
    "messages.not_given": "— не вказано —",
    "messages.neither": "нічого",
    "messages.one_of": "Вкажіть одне з: {keys}",
    "messages.deliveries": "Доставки",
    "messages.pending_only": "Лише ті, що очікують квитанції",
    "messages.filter_to": "Адресат",
    "messages.everyone": "усі адресати",
    "messages.none": "Доставок немає.",
    "messages.no_ack": "квитанція не потрібна",
    "messages.acked": "Квитував {by} о {at}",
    "messages.pending": "ОЧІКУЄ КВИТАНЦІЇ (передач: {n})",
    "messages.escalated": "доповіли старшому о {at}",
    "messages.ack": "Квитувати",
    "messages.suffix.min": "хв",
    "messages.suffix.m": "м",
    "messages.suffix.deg": "°",
    "messages.type.grid": "координати MGRS",
    "messages.type.minutes": "хвилини",
    "messages.type.distance_m": "дальність, метри",
    "messages.type.count": "кількість",
    "messages.type.bearing_deg": "азимут, градуси (не тисячні)",
    "messages.type.unit": "підрозділ (uid або позивний)",
    "messages.type.enum": "вибір",
    "messages.type.text": "вільний текст, без перекладу",
    "messages.type.ref": "код повідомлення",
    "messages.group.movement": "Пересування",
    "messages.group.fire": "Вогонь",
    "messages.group.casualty": "Втрати",
    "messages.group.contact": "Зіткнення",
    "messages.group.logistics": "Тилове забезпечення",
    "messages.group.protocol": "Службові відповіді",
    "messages.group.coordination": "Запити координації",
    "messages.priority.safety": "БЕЗПЕКА",
    "messages.priority.urgent": "ТЕРМІНОВО",
    "messages.priority.routine": "звичайне",
    "messages.param.required": "обов'язково",
    "messages.param.whole": "має бути цілим числом ≥ 0",
    "messages.param.distance": "має бути числом метрів ≥ 0",
    "messages.param.bearing": "має бути в градусах 0–360 (не в тисячних)",
    "messages.param.enum": "має бути одним із: {values}",
    "messages.param.empty": "не має бути порожнім",
    "messages.param.long": "не більше {limit} символів (зараз {n})",
    "messages.param.one_word": "має бути одним словом, без пробілів",
    "messages.param.one_line": "має бути одним рядком (без табуляцій і переносів)",
    "messages.param.one_of": "вкажіть одне з: {keys}",
    "messages.param.not_both": "вкажіть лише одне з: {keys}",
    "messages.grid.form": "це не координати MGRS: зона, літера поясу, дві літери квадрата, цифри (наприклад, 36UXB5303396604)",
    "messages.grid.zone": "зони {zone} немає: зони від 1 до 60",
    "messages.grid.band": "поясу {band} немає: пояси від C до X, без I та O",
    "messages.grid.square": "100-км квадрата {square} немає: без I та O, друга літера від A до V",
    "messages.grid.coarse": "одного 100-км квадрата замало: додайте від 1 до 5 цифр східної та північної координати",
    "messages.grid.odd": "непарна кількість цифр ({n}): у східної та північної координати цифр має бути порівну",
    "messages.grid.long": "цифр {n}: не більше 10 (по 5, квадрат 1 м)",
  },
  ko: {
    "panel.messages": "메시지",
    "messages.compose": "메시지 발신",
    "messages.from": "발신 (부대)",
    "messages.to": "수신",
    "messages.code": "메시지",
    "messages.choose": "— 수신자 선택 —",
    "messages.choose_to": "수신자를 선택하면 받게 될 문장이 표시됩니다.",
    "messages.units": "부대",
    "messages.groups": "그룹",
    "messages.pairings": "차량-하차조 편성",
    "messages.attachment": "첨부 (자유 기술, 번역하지 않음)",
    "messages.ack_required": "수신 확인 필요",
    "messages.send": "발신",
    "messages.preview": "미리보기 — 각 수신자가 받을 문장 그대로",
    "messages.fix_first": "위에 표시된 항목을 고치면 문장이 표시됩니다.",
    "messages.nobody": "받을 부대가 없음: 이 주소에 활동 중인 부대가 없습니다 (발신자 제외).",
    "messages.unreviewed": "번역 미검토",
    "messages.fallback": "“{language}” 번역 없음: 이 수신자는 메시지 코드가 붙은 영어 문장을 받습니다.",
    "messages.fallback_short": "(영어로 대체)",
    "messages.back": "역번역: {text}",
    "messages.english": "영어 (모든 번역과 함께 전송)",
    "messages.sent": "발신 완료: 메시지 {id}, 전달 {n}건.",
    "messages.differs": "주의: {names}에게 전달된 문장이 미리보기와 다릅니다. 아래 전달 내역을 확인하십시오.",
    "messages.optional": "선택",
    "messages.not_given": "— 미지정 —",
    "messages.neither": "지정 안 함",
    "messages.one_of": "다음 중 하나 지정: {keys}",
    "messages.deliveries": "전달 내역",
    "messages.pending_only": "수신 확인 대기만",
    "messages.filter_to": "수신자",
    "messages.everyone": "모든 수신자",
    "messages.none": "전달 내역 없음.",
    "messages.no_ack": "수신 확인 불필요",
    "messages.acked": "{by} 수신 확인 ({at})",
    "messages.pending": "수신 확인 대기 ({n}회 전송)",
    "messages.escalated": "{at} 상급 부대에 보고",
    "messages.ack": "수신 확인",
    "messages.suffix.min": "분",
    "messages.suffix.m": "m",
    "messages.suffix.deg": "°",
    "messages.type.grid": "MGRS 좌표",
    "messages.type.minutes": "분",
    "messages.type.distance_m": "거리, 미터",
    "messages.type.count": "수",
    "messages.type.bearing_deg": "방위각, 도 (밀 아님)",
    "messages.type.unit": "부대 (uid 또는 호출부호)",
    "messages.type.enum": "선택",
    "messages.type.text": "자유 기술, 번역하지 않음",
    "messages.type.ref": "메시지 ID",
    "messages.group.movement": "기동",
    "messages.group.fire": "화력",
    "messages.group.casualty": "사상자",
    "messages.group.contact": "접적",
    "messages.group.logistics": "군수",
    "messages.group.protocol": "절차 응답",
    "messages.group.coordination": "협조 요청",
    "messages.priority.safety": "안전",
    "messages.priority.urgent": "긴급",
    "messages.priority.routine": "일반",
    "messages.param.required": "필수 항목",
    "messages.param.whole": "0 이상의 정수여야 함",
    "messages.param.distance": "0 이상의 미터 값이어야 함",
    "messages.param.bearing": "0–360도여야 함 (밀 아님)",
    "messages.param.enum": "다음 중 하나여야 함: {values}",
    "messages.param.empty": "비워 둘 수 없음",
    "messages.param.long": "최대 {limit}자 (현재 {n}자)",
    "messages.param.one_word": "공백 없는 한 단어여야 함",
    "messages.param.one_line": "한 줄이어야 함 (탭, 줄바꿈 불가)",
    "messages.param.one_of": "다음 중 하나 지정: {keys}",
    "messages.param.not_both": "다음 중 하나만 지정: {keys}",
    "messages.grid.form": "MGRS 좌표가 아님: 구역, 위도대 문자, 100 km 방안 문자 2개, 숫자 (예: 36UXB5303396604)",
    "messages.grid.zone": "구역 {zone}은(는) 없음: 구역은 1–60",
    "messages.grid.band": "위도대 {band}은(는) 없음: C–X (I, O 제외)",
    "messages.grid.square": "100 km 방안 {square}은(는) 없음: I, O 없음, 둘째 문자는 A–V",
    "messages.grid.coarse": "100 km 방안만으로는 너무 넓음: 동거·북거 숫자를 각 1–5자리 추가",
    "messages.grid.odd": "숫자가 홀수 개({n}): 동거와 북거의 자릿수가 같아야 함",
    "messages.grid.long": "숫자 {n}자리: 최대 10자리 (각 5자리, 1 m 방안)",
  },
});
