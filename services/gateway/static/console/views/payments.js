// Payments and transactions (NORAH GET /api/v1/transactions/all) with the seed's
// filters: search (trace, payment id or merchant), status, currency, start/end date.

import { norah } from "../lib/api.js";
import { append, badge, clear, field, formValues, h, notice, table } from "../lib/dom.js";
import { CURRENCIES, major, when } from "../lib/format.js";

const STATUSES = ["PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED", "REFUNDED"];
const FILTERS = ["search", "status", "currency", "start_date", "end_date"];
const PER_PAGE = 20;

export default {
  title: "Payments",
  async render({ el, query, navigate, announce, stale }) {
    const values = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) || ""]));
    const page = Math.max(1, Number(query.get("page")) || 1);
    const form = h("form", { class: "filters card", role: "search", "aria-label": "Filter payments" },
      field({ label: "Search", name: "search", type: "search", value: values.search,
        hint: "A trace, a payment id (from its start) or a merchant name" }),
      field({ label: "Status", name: "status", value: values.status,
        options: [["", "Any status"], ...STATUSES.map((s) => [s, s])] }),
      field({ label: "Currency", name: "currency", value: values.currency,
        options: [["", "Any currency"], ...CURRENCIES.map((c) => [c, c])] }),
      field({ label: "From", name: "start_date", type: "date", value: values.start_date }),
      field({ label: "To", name: "end_date", type: "date", value: values.end_date }),
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary" }, "Apply filters"),
        h("a", { href: "/console/payments", "data-link": "", class: "button" }, "Clear")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(formValues(form))) if (v) params.set(k, v);
      navigate(`/payments${params.toString() ? "?" + params : ""}`);
    });
    const results = h("section", { "aria-labelledby": "results-title", class: "results" },
      h("h2", { id: "results-title" }, "Transactions"));
    el.append(form, results);
    let answer;
    try {
      answer = await norah("GET", "/api/v1/transactions/all",
        { query: { ...values, page, per_page: PER_PAGE } });
    } catch (err) {
      results.append(notice(err.message, "error"));
      announce(`Could not load payments: ${err.message}`);
      return;
    }
    if (stale()) return;
    const total = Number(answer.pagination?.total ?? answer.data.length);
    const filtered = FILTERS.some((k) => values[k]);
    const noun = total === 1 ? "transaction" : "transactions";
    const summary = filtered ? `${total} ${noun} ${total === 1 ? "matches" : "match"} the filters` : `${total} ${noun}`;
    // append() of lib/dom.js: the pager is null when there is one page only.
    append(results, [h("p", { class: "count" }, summary),
      table({
        caption: "Transactions, newest first",
        empty: filtered ? "No transaction matches these filters." : "No transactions yet.",
        columns: [
          { label: "Trace", class: "mono", cell: (t) => h("a", { href: `/console/payments/${encodeURIComponent(t.transactionId)}`, "data-link": "" }, t.trace) },
          { label: "Payment", class: "mono", cell: (t) => t.transactionId },
          { label: "Amount", class: "num", cell: (t) => major(t.amount, t.currency) },
          { label: "Status", cell: (t) => badge(t.status) },
          { label: "Method", cell: (t) => t.paymentMethod || "—" },
          { label: "Merchant", cell: (t) => t.merchant || "—" },
          { label: "Created", cell: (t) => when(t.timestamp) },
        ],
        rows: answer.data,
      }),
      pager(page, total, values)]);
    announce(summary);
  },
};

function pager(page, total, values) {
  const pages = Math.max(1, Math.ceil(total / PER_PAGE));
  if (pages === 1) return null;
  const link = (p, text) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(values)) if (v) params.set(k, v);
    params.set("page", p);
    return h("a", { href: `/console/payments?${params}`, "data-link": "", class: "button" }, text);
  };
  return clear(h("nav", { class: "pager", "aria-label": "Pages" }),
    page > 1 ? link(page - 1, "Previous page") : null,
    h("span", {}, `Page ${page} of ${pages}`),
    page < pages ? link(page + 1, "Next page") : null);
}
