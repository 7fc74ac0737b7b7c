import { signIn } from "../lib/api.js";
import { field, formValues, h, notice } from "../lib/dom.js";

export default {
  title: "Sign in",
  async render({ el, navigate, announce }) {
    const out = h("div", { class: "form-out" });
    const form = h("form", { class: "card narrow", novalidate: false },
      field({ label: "E-mail", name: "email", type: "email", autocomplete: "username", required: true }),
      field({ label: "Password", name: "password", type: "password", autocomplete: "current-password", required: true }),
      h("button", { type: "submit", class: "primary" }, "Sign in"),
      out);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { email, password } = formValues(form);
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      out.replaceChildren();
      try {
        const session = await signIn(email, password);
        announce(`Signed in as ${session.fullName || session.email}`);
        navigate("/payments", { replace: true });
      } catch (err) {
        const msg = notice(err.message, "error");
        out.append(msg);
        form.querySelector("input[name=password]").focus();
      } finally {
        submit.disabled = false;
      }
    });
    el.append(h("p", { class: "lead" }, "Merchants and their administrators sign in with the e-mail and password of their norgate account."), form);
  },
};
