// Plans, subscriptions and invoices (NorPay /api/v2): the lists (newest 50 of each),
// and a lookup by id (a subscription shows its invoices). A gateway without the list
// routes (an older billing) shows the lookups only.

import { norpay } from "../lib/api.js";
import { badge, dl, field, formValues, h, notice, table } from "../lib/dom.js";
import { minor, when } from "../lib/format.js";

const INVOICE_COLUMNS = [
  { label: "Number", cell: (i) => i.invoiceNumber },
  { label: "Invoice", class: "mono", cell: (i) => i.invoiceId },
  { label: "Status", cell: (i) => badge(i.status) },
  { label: "Total", class: "num", cell: (i) => minor(i.total, i.currency) },
  { label: "Due", cell: (i) => when(i.dueDate) },
  { label: "Paid", cell: (i) => when(i.paidAt) },
];
const SUBSCRIPTION_COLUMNS = [
  { label: "Subscription", class: "mono", cell: (s) => s.subscriptionId },
  { label: "Customer", cell: (s) => s.customerId },
  { label: "Plan", class: "mono", cell: (s) => s.planId },
  { label: "Status", cell: (s) => badge(s.status) },
  { label: "Amount", class: "num", cell: (s) => `${minor(s.amount, s.currency)} / ${s.intervalCount > 1 ? `${s.intervalCount} ` : ""}${s.interval}` },
  { label: "Period ends", cell: (s) => when(s.currentPeriodEnd) },
];

async function optionalList(path, key) {
  try {
    const result = await norpay("GET", path, { query: { per_page: 50 } });
    return result[key] || result;
  } catch (err) {
    if (err.code === "route_not_found" || err.code === "method_not_allowed") return null;
    throw err;
  }
}

function lookup({ id, label, name, hint, onFind }) {
  const out = h("div", { class: "lookup-out", "aria-live": "polite" });
  const form = h("form", { class: "filters inline", "aria-label": `Look up a ${label.toLowerCase()}` },
    field({ label, name, required: true, hint }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Look up")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = formValues(form)[name];
    out.replaceChildren(h("p", {}, "Loading…"));
    try {
      out.replaceChildren(...await onFind(value));
    } catch (err) {
      out.replaceChildren(notice(err.status === 404 ? `No ${label.toLowerCase()} ${value} in your account.` : err.message, "error"));
    }
  });
  return h("div", { id }, form, out);
}

export default {
  title: "Subscriptions & invoices",
  async render({ el, announce, stale }) {
    const [plans, subs, invoices] = await Promise.allSettled([
      norpay("GET", "/api/v2/plans", { query: { per_page: 100 } }),
      optionalList("/api/v2/subscriptions", "subscriptions"),
      optionalList("/api/v2/invoices", "invoices"),
    ]);
    if (stale()) return;
    const listOrNote = (result, columns, caption, what) => {
      if (result.status === "rejected") return notice(result.reason.message, "error");
      if (result.value === null) return h("p", { class: "hint" }, `Billing has no list of ${what} yet: look one up by its id.`);
      return table({ caption, columns, rows: result.value, empty: `No ${what} yet.` });
    };
    el.append(
      h("section", { class: "card", "aria-labelledby": "plans-title" },
        h("h2", { id: "plans-title" }, "Plans"),
        plans.status === "rejected" ? notice(plans.reason.message, "error") : table({
          caption: "Plans",
          empty: "No plans yet.",
          columns: [
            { label: "Name", cell: (p) => p.name },
            { label: "Plan", class: "mono", cell: (p) => p.planId },
            { label: "Price", class: "num", cell: (p) => `${minor(p.amount, p.currency)} / ${p.intervalCount > 1 ? `${p.intervalCount} ` : ""}${p.interval}` },
            { label: "Features", cell: (p) => (p.features || []).join(", ") || "—" },
            { label: "Created", cell: (p) => when(p.createdAt) },
          ],
          rows: plans.value.plans,
        })),
      h("section", { class: "card", "aria-labelledby": "subs-title" },
        h("h2", { id: "subs-title" }, "Subscriptions"),
        listOrNote(subs, SUBSCRIPTION_COLUMNS, "Subscriptions", "subscriptions"),
        lookup({
          id: "subscription-lookup", label: "Subscription", name: "subscriptionId", hint: "e.g. sub_…",
          onFind: async (value) => {
            const id = encodeURIComponent(value);
            const [s, its] = await Promise.all([
              norpay("GET", `/api/v2/subscriptions/${id}`),
              norpay("GET", `/api/v2/subscriptions/${id}/invoices`)]);
            announce(`Subscription ${s.subscriptionId}: ${s.status}, ${its.length} invoices`);
            return [
              h("h3", {}, `Subscription ${s.subscriptionId}`),
              dl([["Status", badge(s.status)], ["Customer", s.customerId], ["Plan", s.planId],
                ["Amount", `${minor(s.amount, s.currency)} every ${s.intervalCount} ${s.interval}`],
                ["Current period", `${when(s.currentPeriodStart)} to ${when(s.currentPeriodEnd)}`],
                ["Trial ends", when(s.trialEnd)], ["Cancels at period end", s.cancelAtPeriodEnd ? "yes" : "no"],
                ["Canceled", when(s.canceledAt)], ["Created", when(s.createdAt)]]),
              table({ caption: `Invoices of ${s.subscriptionId}`, columns: INVOICE_COLUMNS, rows: its,
                empty: "No invoice yet: the first one opens when the first paid period starts." })];
          },
        })),
      h("section", { class: "card", "aria-labelledby": "invoices-title" },
        h("h2", { id: "invoices-title" }, "Invoices"),
        listOrNote(invoices, INVOICE_COLUMNS, "Invoices", "invoices"),
        lookup({
          id: "invoice-lookup", label: "Invoice", name: "invoiceId", hint: "e.g. inv_…",
          onFind: async (value) => {
            const i = await norpay("GET", `/api/v2/invoices/${encodeURIComponent(value)}`);
            announce(`Invoice ${i.invoiceNumber}: ${i.status}`);
            return [
              h("h3", {}, `Invoice ${i.invoiceNumber}`),
              dl([["Status", badge(i.status)], ["Customer", i.customer?.name || i.customer?.email || JSON.stringify(i.customer)],
                ["Subtotal", minor(i.subtotal, i.currency)], ["Tax", minor(i.tax, i.currency)],
                ["Total", minor(i.total, i.currency)], ["Due", when(i.dueDate)], ["Sent", when(i.sentAt)],
                ["Paid", when(i.paidAt)], ["Payment", i.paymentId],
                ["Pay link", i.paymentUrl ? h("a", { href: i.paymentUrl }, i.paymentUrl) : null]]),
              table({
                caption: "Items", rows: i.items || [], empty: "No items.",
                columns: [
                  { label: "Description", cell: (it) => it.description },
                  { label: "Quantity", class: "num", cell: (it) => String(it.quantity ?? 1) },
                  { label: "Unit price", class: "num", cell: (it) => it.unitPrice !== undefined ? minor(it.unitPrice, i.currency) : "—" },
                ],
              })];
          },
        })));
    const n = plans.status === "fulfilled" ? plans.value.plans.length : 0;
    announce(`${n} ${n === 1 ? "plan" : "plans"}`);
  },
};
