// Merchants of the company (ADMIN) or platform (SUPER): GET /api/v1/admin/merchants,
// activate / inactivate, and the brand its checkout pages show (logoUrl, accentColor:
// PATCH /api/v1/admin/merchants/{id}; an empty field clears the setting).

import { norah } from "../lib/api.js";
import { badge, busy, button, field, formValues, h, notice, table } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { setFieldError, showRefusal } from "../lib/account.js";

const STATUSES = ["DEVELOPMENT", "ACTIVE", "INACTIVE"];

export default {
  title: "Merchants",
  managerOnly: true,
  async render({ el, announce, stale }) {
    const out = h("div", { class: "form-out", "aria-live": "polite" });
    const filter = h("form", { class: "filters card", role: "search", "aria-label": "Filter merchants" },
      field({ label: "Search", name: "search", type: "search", hint: "Name, e-mail or uid" }),
      field({ label: "Status", name: "status", options: [["", "Any status"], ...STATUSES.map((s) => [s, s])] }),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Apply filters")));
    const list = h("section", { class: "card", "aria-labelledby": "merchants-title" },
      h("h2", { id: "merchants-title", tabindex: "-1" }, "Merchants"));
    const body = h("div");
    list.append(out, body);
    const brandCard = h("div");
    el.append(filter, list, brandCard);

    async function load() {
      const values = formValues(filter);
      try {
        const { data, pagination } = await norah("GET", "/api/v1/admin/merchants",
          { query: { ...values, per_page: 100 } });
        if (stale()) return null;
        const hadFocus = body.contains(document.activeElement);
        body.replaceChildren(
          h("p", { class: "count" }, `${pagination?.total ?? data.length} merchants`),
          table({
            caption: "Merchants",
            empty: "No merchant matches.",
            columns: [
              { label: "Name", cell: (m) => m.merchantName },
              { label: "E-mail", class: "wrap", cell: (m) => m.merchantEmail },
              { label: "Uid", class: "mono", cell: (m) => m.merchantUid },
              { label: "Plan", cell: (m) => m.ratePlan },
              { label: "Status", cell: (m) => badge(m.status) },
              { label: "Created", cell: (m) => when(m.createdAt) },
              { label: "Actions", cell: (m) => h("div", { class: "actions" },
                m.status === "ACTIVE"
                  ? button("Inactivate", (e) => change(e.currentTarget, m, "inactivate"), { class: "danger", "aria-label": `Inactivate ${m.merchantName}` })
                  : button("Activate", (e) => change(e.currentTarget, m, "activate"), { class: "primary", "aria-label": `Activate ${m.merchantName}` }),
                button("Checkout brand", () => editBrand(m), { "aria-label": `Checkout brand of ${m.merchantName}` })) },
            ],
            rows: data,
          }));
        if (hadFocus) list.querySelector("h2").focus();
        return data;
      } catch (err) {
        body.replaceChildren(notice(err.message, "error"));
        return null;
      }
    }

    async function change(btn, m, action) {
      await busy(btn, async () => {
        try {
          const { data } = await norah("POST", `/api/v1/admin/merchants/${encodeURIComponent(m.merchantId)}/${action}`);
          const text = `${m.merchantName} is now ${data.status}.`;
          out.replaceChildren(notice(text));
          announce(text);
          await load();
        } catch (err) {
          out.replaceChildren(notice(err.message, "error"));
        }
      });
    }

    // The brand on the merchant's checkout pages: its logo and accent colour (the name
    // and support e-mail are its merchantName and merchantEmail).
    function editBrand(m) {
      const logo = field({ label: "Logo URL", name: "logoUrl", type: "url", maxlength: 500,
        value: m.logoUrl || "", autocomplete: "off",
        hint: "An https:// address of the logo image, shown in the checkout page's header. Empty: the merchant's name." });
      const accent = field({ label: "Accent colour", name: "accentColor", maxlength: 7,
        value: m.accentColor || "", autocomplete: "off", spellcheck: "false",
        hint: "#rrggbb, e.g. #1a7f37, for buttons and links. Empty: norgate's blue. Text and link shades are adjusted to stay readable." });
      const fields = { logoUrl: logo, accentColor: accent };
      const result = h("div", { class: "form-out", "aria-live": "polite" });
      const form = h("form", { class: "card narrow", novalidate: true, "aria-labelledby": "brand-title" },
        h("h2", { id: "brand-title", tabindex: "-1" }, `Checkout brand: ${m.merchantName}`),
        logo, accent,
        h("div", { class: "actions" },
          h("button", { type: "submit", class: "primary" }, "Save brand"),
          button("Close", () => brandCard.replaceChildren())),
        result);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        result.replaceChildren();
        for (const f of Object.values(fields)) setFieldError(f, "");
        const values = formValues(form);
        const body = { logoUrl: values.logoUrl || null, accentColor: values.accentColor || null };
        await busy(form.querySelector("button[type=submit]"), async () => {
          try {
            const { data } = await norah("PATCH", `/api/v1/admin/merchants/${encodeURIComponent(m.merchantId)}`, { body });
            Object.assign(m, { logoUrl: data.logoUrl, accentColor: data.accentColor });
            const text = `The checkout brand of ${data.merchantName} is saved.`;
            result.replaceChildren(notice(text));
            announce(text);
          } catch (err) {
            showRefusal(err, fields, result);
            announce(err.message);
          }
        });
      });
      brandCard.replaceChildren(form);
      form.querySelector("h2").focus();
    }

    filter.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = await load();
      if (data) announce(`${data.length} merchants`);
    });
    const data = await load();
    if (data) announce(`${data.length} merchants`);
  },
};
