// A new merchant (ADMIN, SUPER): POST /api/v1/admin/create-merchant-account with the
// two fields it needs; the merchant starts in DEVELOPMENT and its MERCHANT login is
// invited by e-mail. The first step of the dashboard's first-steps list links here.

import { norah } from "../lib/api.js";
import { field, h, notice } from "../lib/dom.js";
import { setFieldError, showRefusal } from "../lib/account.js";

export default {
  title: "New merchant",
  managerOnly: true,
  async render({ el, session, announce }) {
    const name = field({ label: "Merchant name", name: "merchantName", required: true, maxlength: 200,
      autocomplete: "organization", hint: "As shoppers see it on the checkout page, e.g. “Blue Widget Store”." });
    const email = field({ label: "Merchant e-mail", name: "merchantEmail", type: "email", required: true,
      maxlength: 254, autocomplete: "off",
      hint: "The merchant's own login: an invitation to choose a password is sent there." });
    const company = session.role === "SUPER"
      ? field({ label: "Company id", name: "companyId", type: "number", min: 1, required: true }) : null;
    const fields = { merchantName: name, merchantEmail: email, companyId: company };
    const out = h("div", { class: "form-out" });
    const form = h("form", { class: "card narrow", novalidate: true, "aria-labelledby": "new-merchant-title" },
      h("h2", { id: "new-merchant-title" }, "Create a merchant"),
      name, email, company,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create merchant")),
      out);
    el.append(form);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      out.replaceChildren();
      for (const f of Object.values(fields)) if (f) setFieldError(f, "");
      const body = {
        merchantName: form.elements.merchantName.value.trim(),
        merchantEmail: form.elements.merchantEmail.value.trim(),
      };
      if (company) body.companyId = Number(form.elements.companyId.value);
      const missing = [["merchantName", "Enter the merchant's name."], ["merchantEmail", "Enter the merchant's e-mail."]]
        .filter(([k]) => !body[k]);
      if (missing.length) {
        for (const [k, text] of missing) setFieldError(fields[k], text);
        form.elements[missing[0][0]].focus();
        announce(missing.map(([, text]) => text).join(" "));
        return;
      }
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      try {
        const { data } = await norah("POST", "/api/v1/admin/create-merchant-account", { body });
        const text = `${data.merchantName} is created, in DEVELOPMENT. An invitation went to ${data.merchantEmail}.`;
        out.append(notice(text), h("p", {}, "Next: ",
          h("a", { href: "/console/merchants", "data-link": "" }, "activate it on the Merchants page"), " · ",
          h("a", { href: "/console/dashboard", "data-link": "" }, "back to the first steps")));
        form.reset();
        announce(text);
      } catch (err) {
        showRefusal(err, fields, out);
        announce(err.message);
      } finally {
        submit.disabled = false;
      }
    });
  },
};
