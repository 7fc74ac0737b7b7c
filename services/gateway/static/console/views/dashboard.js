// Revenue for today, this week, this month and this year (NorPay GET
// /api/v2/merchants/dashboard?period=...), drawn as an SVG bar chart with the same
// numbers in a table, and the month's payment, subscription and customer counts.

import { norah, norpay } from "../lib/api.js";
import { barChart } from "../lib/chart.js";
import { dl, field, formValues, h, notice, table } from "../lib/dom.js";
import { CURRENCIES, minor, toNumber } from "../lib/format.js";
import { firstSteps } from "./first-steps.js";

const PERIODS = [["today", "Today"], ["week", "This week"], ["month", "This month"], ["year", "This year"]];

async function defaultCurrency() {
  try {
    const { data } = await norah("GET", "/api/v1/transactions/all", { query: { per_page: 1 } });
    return data[0]?.currency || "NOR";
  } catch {
    return "NOR";
  }
}

export default {
  title: "Dashboard",
  async render({ el, query, navigate, announce, stale }) {
    firstSteps(el); // a new ADMIN's checklist, first on the page (views/first-steps.js)
    const currency = (query.get("currency") || await defaultCurrency()).toUpperCase();
    if (stale()) return;
    const form = h("form", { class: "filters card inline", "aria-label": "Dashboard currency" },
      field({ label: "Currency", name: "currency", value: currency, options: CURRENCIES.map((c) => [c, c]) }),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      navigate(`/dashboard?currency=${encodeURIComponent(formValues(form).currency)}`);
    });
    el.append(form);
    let stats;
    try {
      stats = await Promise.all(PERIODS.map(([period]) =>
        norpay("GET", "/api/v2/merchants/dashboard", { query: { period, currency } })));
    } catch (err) {
      el.append(notice(err.message, "error"));
      return;
    }
    if (stale()) return;
    const bars = PERIODS.map(([, label], i) => ({
      label, value: toNumber(stats[i].revenue.total), text: minor(stats[i].revenue.total, currency),
    }));
    const month = stats[2];
    el.append(
      h("section", { class: "card", "aria-labelledby": "revenue-title" },
        h("h2", { id: "revenue-title" }, `Revenue (${currency})`),
        barChart({
          title: `Revenue in ${currency}, to date`,
          summary: bars.map((b) => `${b.label}: ${b.text}`).join("; "),
          bars, valueLabel: "Revenue",
        }),
        table({
          caption: "Revenue by source",
          columns: [
            { label: "Period", cell: (r) => r.label },
            { label: "Payments", class: "num", cell: (r) => minor(r.s.revenue.payments, currency) },
            { label: "Subscriptions", class: "num", cell: (r) => minor(r.s.revenue.subscriptions, currency) },
            { label: "Total", class: "num", cell: (r) => minor(r.s.revenue.total, currency) },
          ],
          rows: PERIODS.map(([, label], i) => ({ label, s: stats[i] })),
        })),
      h("section", { class: "card grid-2", "aria-labelledby": "month-title" },
        h("h2", { id: "month-title" }, "This month"),
        h("div", {}, h("h3", {}, "Payments"), dl([
          ["Total", String(month.payments.total)], ["Completed", String(month.payments.completed)],
          ["Pending", String(month.payments.pending)], ["Failed", String(month.payments.failed)],
          ["Canceled", String(month.payments.canceled)], ["Refunded", String(month.payments.refunded)]])),
        h("div", {}, h("h3", {}, "Subscriptions"), dl([
          ["Active", String(month.subscriptions.active)], ["Trialing", String(month.subscriptions.trialing)],
          ["Past due", String(month.subscriptions.past_due)], ["Canceled", String(month.subscriptions.canceled)]])),
        h("div", {}, h("h3", {}, "Customers"), dl([
          ["Total", String(month.customers.total)], ["New", String(month.customers.new)]])),
        h("div", {}, h("h3", {}, "Top products"), table({
          caption: "Top products this month",
          empty: "No product sold this month.",
          columns: [
            { label: "Product", cell: (p) => p.name },
            { label: "Sold", class: "num", cell: (p) => String(p.count) },
            { label: "Revenue", class: "num", cell: (p) => minor(p.revenue, currency) },
          ],
          rows: month.topProducts || [],
        }))));
    announce(`Dashboard in ${currency}: ${bars.map((b) => `${b.label} ${b.text}`).join(", ")}`);
  },
};
