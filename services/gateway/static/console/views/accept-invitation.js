// An invited merchant user sets a password (POST /api/v1/auth/accept-invitation), signed
// out, from the invitation e-mail's link (/console/accept-invitation#token=...) or with
// the code pasted by hand; then signs in.

import { norah } from "../lib/api.js";
import { field, h, notice } from "../lib/dom.js";
import { PASSWORD_MAX, PASSWORD_MIN, PASSWORD_RULES, setFieldError, signInCard, takeToken } from "../lib/account.js";

const EXPIRED = "This invitation code is invalid, already used or expired (codes last 7 days). "
  + "If you set your password already, sign in. Otherwise ask whoever created your merchant "
  + "account (your company's norgate administrator) to invite you again.";

export default {
  title: "Set your password",
  public: true,
  async render({ el, navigate, announce }) {
    const token = takeToken();
    const code = field({
      label: "Invitation code", name: "token", class: "mono", autocomplete: "off", spellcheck: "false",
      required: true, value: token,
      hint: token ? "Filled in from the link in your e-mail." : "Paste the code from the invitation e-mail.",
    });
    const password = field({
      label: "New password", name: "password", type: "password", autocomplete: "new-password",
      required: true, maxlength: PASSWORD_MAX, hint: PASSWORD_RULES,
    });
    const again = field({
      label: "Confirm password", name: "confirm", type: "password", autocomplete: "new-password",
      required: true, maxlength: PASSWORD_MAX,
    });
    const out = h("div", { class: "form-out" });
    // novalidate: the page's own messages, next to each field, instead of the browser's bubbles.
    const form = h("form", { class: "card narrow", novalidate: true, "aria-labelledby": "set-password-title" },
      h("h2", { id: "set-password-title" }, "Choose a password"),
      code, password, again,
      h("button", { type: "submit", class: "primary" }, "Set password"),
      out);
    el.append(h("p", { class: "lead" },
      "Your norgate merchant account is ready. Choose the password you will sign in with."), form);

    const fields = { token: code, password, confirm: again };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      out.replaceChildren();
      for (const f of Object.values(fields)) setFieldError(f, "");
      const values = {
        token: form.elements.token.value.trim(),
        password: form.elements.password.value,
        confirm: form.elements.confirm.value,
      };
      const problems = [];
      if (!values.token) problems.push(["token", "Enter the invitation code from your e-mail."]);
      if (values.password.length < PASSWORD_MIN) problems.push(["password", `The password must be at least ${PASSWORD_MIN} characters.`]);
      else if (values.confirm !== values.password) problems.push(["confirm", "The two passwords are not the same."]);
      if (problems.length) {
        for (const [name, text] of problems) setFieldError(fields[name], text);
        form.elements[problems[0][0]].focus();
        announce(problems.map(([, text]) => text).join(" "));
        return;
      }
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      try {
        const { data } = await norah("POST", "/api/v1/auth/accept-invitation",
          { body: { token: values.token, password: values.password }, auth: false });
        const done = h("div", {},
          notice("Password set — sign in."),
          signInCard({ email: data.email, navigate, announce }));
        el.replaceChildren(done);
        announce("Password set. Sign in.");
        el.querySelector("input[name=password]").focus();
      } catch (err) {
        if (err.field === "password") {
          // The API says "password: must not contain your e-mail address": the field names itself.
          setFieldError(password, `The password ${err.message.replace(/^password:\s*/i, "")}.`.replace(/\.\.$/, "."));
          form.elements.password.focus();
        } else if (err.field === "token" || err.code === "invalid_confirmation_token") {
          setFieldError(code, err.code === "invalid_confirmation_token" ? EXPIRED
            : "This is not a whole invitation code: paste all of it from the e-mail.");
          form.elements.token.focus();
        } else {
          out.append(notice(err.message, "error"));
        }
        announce(err.message);
      } finally {
        submit.disabled = false;
      }
    });
  },
};
