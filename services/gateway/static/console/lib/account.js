// Shared by the pages a signed-out person opens from an e-mail (confirm-email,
// accept-invitation): the token the link carries, a field's own error message, and a
// sign-in form to go on with.

import { signIn } from "./api.js";
import { field, h, notice } from "./dom.js";

// The e-mails put the token after "#" (never sent to a server, so no access log and no
// Referer holds it). It is read once and wiped from the address bar and the history
// entry, so it is not left behind for the next person at this browser.
export function takeToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  const query = new URLSearchParams(location.search);
  const token = fromHash || query.get("token");
  if (token) {
    query.delete("token");
    const rest = query.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : ""));
  }
  return token ? token.trim() : "";
}

// A message under one field, tied to its control (aria-describedby, aria-invalid), so
// a screen reader reads it with the field; setFieldError(fieldEl, "") clears it.
export function setFieldError(fieldEl, message) {
  const control = fieldEl.querySelector("input, select, textarea");
  const id = `${control.id}-error`;
  fieldEl.querySelector(".field-error")?.remove();
  const described = (control.getAttribute("aria-describedby") || "").split(" ")
    .filter((x) => x && x !== id);
  if (message) {
    control.after(h("p", { class: "field-error", id }, message));
    control.setAttribute("aria-invalid", "true");
    described.push(id);
  } else {
    control.removeAttribute("aria-invalid");
  }
  if (described.length) control.setAttribute("aria-describedby", described.join(" "));
  else control.removeAttribute("aria-describedby");
}

// An API refusal shown where the user fixes it: at the field it names (focused),
// else as an error notice in `out`.
export function showRefusal(err, fields, out) {
  const target = fields[err.field];
  if (target) {
    setFieldError(target, err.message);
    target.querySelector("input").focus();
  } else {
    out.replaceChildren(notice(err.message, "error"));
  }
}

// Where a new session starts: an ADMIN on the dashboard (its first-steps list), the
// others on their payments, as the sign-in page does.
export const homeOf = (session) => (session.role === "ADMIN" ? "/dashboard" : "/payments");

// The sign-in form shown once the e-mail is confirmed or the password set; the e-mail
// is filled in from the API's answer.
export function signInCard({ email = "", navigate, announce }) {
  const out = h("div", { class: "form-out" });
  const form = h("form", { class: "card narrow", "aria-labelledby": "account-sign-in-title" },
    h("h2", { id: "account-sign-in-title" }, "Sign in"),
    field({ label: "E-mail", name: "email", type: "email", autocomplete: "username", required: true, value: email }),
    field({ label: "Password", name: "password", type: "password", autocomplete: "current-password", required: true }),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    out.replaceChildren();
    try {
      const session = await signIn(form.elements.email.value.trim(), form.elements.password.value);
      announce(`Signed in as ${session.fullName || session.email}`);
      navigate(homeOf(session), { replace: true });
    } catch (err) {
      out.append(notice(err.message, "error"));
      form.elements.password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// The password policy of services/auth/domain.py check_password, said before typing.
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 128;
export const PASSWORD_RULES = `At least ${PASSWORD_MIN} characters (at most ${PASSWORD_MAX}), and not your e-mail address. A few unrelated words make a strong one.`;
