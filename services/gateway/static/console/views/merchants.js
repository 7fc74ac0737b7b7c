// Merchants of the company (ADMIN) or platform (SUPER): GET /api/v1/admin/merchants,
// activate / inactivate.

import { norah } from "../lib/api.js";
import { badge, busy, button, field, formValues, h, notice, table } from "../lib/dom.js";
import { when } from "../lib/format.js";

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
    el.append(filter, list);

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
              { label: "Actions", cell: (m) => m.status === "ACTIVE"
                ? button("Inactivate", (e) => change(e.currentTarget, m, "inactivate"), { class: "danger", "aria-label": `Inactivate ${m.merchantName}` })
                : button("Activate", (e) => change(e.currentTarget, m, "activate"), { class: "primary", "aria-label": `Activate ${m.merchantName}` }) },
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

    filter.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = await load();
      if (data) announce(`${data.length} merchants`);
    });
    const data = await load();
    if (data) announce(`${data.length} merchants`);
  },
};
