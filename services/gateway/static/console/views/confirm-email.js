// A new account's e-mail address is confirmed (POST /api/v1/auth/confirm-email), signed
// out, from the confirmation e-mail's link (/console/confirm-email#token=...) or with
// the code typed in; then the person signs in. The page posts the token itself, so a
// mail scanner that opens the link confirms nothing.

import { norah } from "../lib/api.js";
import { field, h, notice } from "../lib/dom.js";
import { setFieldError, signInCard, takeToken } from "../lib/account.js";

const EXPIRED = "This confirmation code is invalid, already used or expired (codes last 24 hours). "
  + "If you confirmed your e-mail already, just sign in. Otherwise paste the code from the "
  + "newest e-mail norgate sent you; an expired one cannot be renewed from here, so ask "
  + "your norgate operator for a new link.";

export default {
  title: "Confirm your e-mail",
  public: true,
  async render({ el, navigate, announce, stale }) {
    const heading = el.closest("main")?.querySelector("h1");
    const token = takeToken();
    const code = field({
      label: "Confirmation code", name: "token", class: "mono", autocomplete: "off",
      spellcheck: "false", required: true, value: token,
      hint: "The code is in the e-mail norgate sent when you signed up.",
    });
    const out = h("div", { class: "form-out" });
    const form = h("form", { class: "card narrow", novalidate: true, "aria-labelledby": "confirm-title" },
      h("h2", { id: "confirm-title" }, "Enter your code"),
      code,
      h("button", { type: "submit", class: "primary" }, "Confirm e-mail"),
      out);
    const status = h("div");
    el.append(status, form);

    async function confirm(value) {
      setFieldError(code, "");
      out.replaceChildren();
      status.replaceChildren(notice("Confirming your e-mail…"));
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      try {
        const { data } = await norah("POST", "/api/v1/auth/confirm-email", { body: { token: value }, auth: false });
        if (stale()) return;
        if (heading) heading.textContent = "E-mail confirmed";
        document.title = "E-mail confirmed · norgate console";
        el.replaceChildren(
          notice("Your e-mail is confirmed — sign in."),
          signInCard({ email: data.email, navigate, announce }));
        announce("Your e-mail is confirmed. Sign in.");
      } catch (err) {
        if (stale()) return;
        status.replaceChildren();
        const known = err.code === "invalid_confirmation_token";
        const text = known ? EXPIRED
          : err.field === "token" ? "This is not a whole confirmation code: paste all of it from the e-mail."
            : null;
        if (text) {
          setFieldError(code, text);
          out.append(h("p", {}, "Confirmed already? ",
            h("a", { href: "/console/sign-in", "data-link": "" }, "Sign in")));
        } else {
          out.append(notice(err.message, "error"));
        }
        announce(text || err.message);
      } finally {
        submit.disabled = false;
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = form.elements.token.value.trim();
      if (!value) {
        setFieldError(code, "Enter the confirmation code from your e-mail.");
        form.elements.token.focus();
        return;
      }
      confirm(value);
    });
    if (token) await confirm(token);
  },
};
