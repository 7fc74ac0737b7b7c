// Building the page from data without innerHTML: text is always a text node, so data
// from the APIs can never become markup.

let uid = 0;
export const newId = (prefix = "f") => `${prefix}-${++uid}`;

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// A labelled form control: {label, name, type, value, options, hint, required, ...}.
export function field({ label, hint, options, type = "text", ...attrs }) {
  const id = attrs.id || newId(attrs.name || "f");
  const hintId = hint ? `${id}-hint` : undefined;
  let control;
  if (options) {
    control = h("select", { id, "aria-describedby": hintId, ...attrs },
      options.map(([value, text]) => h("option", { value, selected: String(attrs.value ?? "") === String(value) }, text)));
  } else {
    control = h("input", { id, type, "aria-describedby": hintId, ...attrs });
  }
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    control);
}

// A table that turns into labelled cards on a narrow screen (styles.css): each cell
// carries its column's name in data-label.
export function table({ caption, columns, rows, empty = "Nothing to show yet." }) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return scrollable(h("div", { class: "table-wrap" },
    h("table", { class: "data" },
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", {},
        columns.map((c) => h("td", { "data-label": c.label, class: c.class }, dotted(c.cell(row), c.class)))))))),
    caption);
}

// A code-like name in a narrow column (payment.completed) may break after its dots:
// a <wbr> after each, rather than a break in the middle of a word.
function dotted(value, cls) {
  if (typeof value !== "string" || !/\bmono\b/.test(cls || "") || !value.includes(".")) return value;
  return value.split(/(?<=\.)/).flatMap((part, i) => (i ? [h("wbr"), part] : [part]));
}

// A wrapper that scrolls sideways when its table is wider than the screen: then (only
// then) it is a labelled region in the tab order, so a keyboard can scroll it too.
const watched = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
  for (const { target } of entries) {
    const scrolls = target.scrollWidth > target.clientWidth + 1;
    if (scrolls) {
      target.setAttribute("tabindex", "0");
      target.setAttribute("role", "region");
      target.setAttribute("aria-label", `${target.dataset.label} (scrolls sideways)`);
    } else {
      for (const a of ["tabindex", "role", "aria-label"]) target.removeAttribute(a);
    }
  }
}) : null;

export function scrollable(wrap, label) {
  wrap.dataset.label = label || "Table";
  watched?.observe(wrap);
  return wrap;
}

export function dl(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [
    h("dt", {}, k), h("dd", {}, v === null || v === undefined || v === "" ? "—" : v)]));
}

export function badge(status) {
  const s = String(status || "").toLowerCase();
  return h("span", { class: `badge badge-${s.replace(/[^a-z_]/g, "")}` }, String(status ?? "—"));
}

export function button(text, onclick, attrs = {}) {
  return h("button", { type: "button", onclick, ...attrs }, text);
}

// A message in the page (role=alert for errors, status otherwise).
export function notice(text, kind = "info") {
  return h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

// Runs an action from a button: disables it meanwhile and shows the outcome in `out`.
export async function busy(btn, fn) {
  btn.disabled = true;
  btn.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } finally {
    btn.disabled = false;
    btn.removeAttribute("aria-busy");
  }
}

export function formValues(form) {
  return Object.fromEntries([...new FormData(form).entries()].map(([k, v]) => [k, String(v).trim()]));
}

// Shows or hides a field() and what it sends: a disabled control is left out of the
// form's data, so a hidden field never reaches the API.
export function showField(fieldEl, on) {
  fieldEl.hidden = !on;
  for (const c of fieldEl.querySelectorAll("input, select, textarea")) c.disabled = !on;
}
