// A merchant's balance per currency (NorPay GET /api/v2/balance): pending, available
// and in transit; what becomes available on which day (GET /api/v2/balance/upcoming)
// as a bar chart with its table; and the balance's movements
// (GET /api/v2/balance/transactions) with the type, currency and date filters.

import { norpay } from "../lib/api.js";
import { barChart } from "../lib/chart.js";
import { append, badge, field, formValues, h, notice, table } from "../lib/dom.js";
import { CURRENCIES, dayBound, dayLabel, minor, toNumber, when } from "../lib/format.js";
import { areaPage, pager } from "../lib/moneyout.js";

const TYPES = ["payment", "fee", "refund", "payout", "payout_fee", "adjustment"];
const FILTERS = ["type", "currency", "from", "to"];
const PER_PAGE = 20;

export default {
  title: "Balance",
  async render(ctx) {
    const { el, query, navigate, announce, stale } = ctx;
    const area = await areaPage(ctx, "/payouts/balance");
    if (stale()) return;
    if (area.none) {
      el.append(h("p", { class: "empty" }, "No merchant yet."));
      return;
    }
    const balancesCard = h("section", { class: "card", "aria-labelledby": "balances-title" },
      h("h2", { id: "balances-title" }, "Balances"));
    const upcomingCard = h("section", { class: "card", "aria-labelledby": "upcoming-title" },
      h("h2", { id: "upcoming-title" }, "Becoming available"));
    const movesCard = h("section", { class: "card", "aria-labelledby": "moves-title" },
      h("h2", { id: "moves-title" }, "Balance transactions"));
    el.append(balancesCard, upcomingCard, movesCard);

    let balance;
    try {
      balance = await norpay("GET", "/api/v2/balance", { query: area.scope });
    } catch (err) {
      balancesCard.append(notice(err.message, "error"));
      announce(`Could not load the balance: ${err.message}`);
      return;
    }
    if (stale()) return;
    const rows = balance.balances || [];
    balancesCard.append(
      h("p", { class: "hint" }, "Pending: paid, net of fees and refunds, not yet available. Available: can be paid out. In transit: in payouts on their way."),
      table({
        caption: `Balances by currency (${balance.livemode ? "live" : "test"} mode)`,
        empty: "No balance yet: it starts with the first completed payment.",
        columns: [
          { label: "Currency", cell: (b) => b.currency },
          { label: "Pending", class: "num", cell: (b) => minor(b.pending, b.currency) },
          { label: "Available", class: "num", cell: (b) => minor(b.available, b.currency) },
          { label: "In transit", class: "num", cell: (b) => minor(b.inTransit, b.currency) },
        ],
        rows,
      }));

    const currencies = rows.map((b) => b.currency);
    const chart = query.get("chart");
    const currency = (currencies.includes(chart) ? chart : currencies[0]) || "";
    const filters = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) || ""]));
    await upcoming(upcomingCard, { currency, currencies, filters, area, navigate, stale });
    if (stale()) return;
    await movements(movesCard, query, area, navigate, stale);
    if (stale()) return;
    announce(rows.length
      ? rows.map((b) => `${b.currency}: ${minor(b.available, b.currency)} available, ${minor(b.pending, b.currency)} pending`).join("; ")
      : "No balance yet");
  },
};

// The chart of one currency (?chart=, the first balance's by default); switching it
// keeps the movement filters.
async function upcoming(card, { currency, currencies, filters, area, navigate, stale }) {
  if (!currency) {
    card.append(h("p", { class: "empty" }, "Nothing is becoming available."));
    return;
  }
  if (currencies.length > 1) {
    const form = h("form", { class: "filters inline", "aria-label": "Currency of the chart" },
      field({ label: "Chart currency", name: "chart", value: currency, options: currencies.map((c) => [c, c]) }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Show")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      navigate(area.link("/payouts/balance", { ...filters, chart: formValues(form).chart }));
    });
    card.append(form);
  }
  let answer;
  try {
    answer = await norpay("GET", "/api/v2/balance/upcoming", { query: { ...area.scope, currency } });
  } catch (err) {
    card.append(notice(err.message, "error"));
    return;
  }
  if (stale()) return;
  const days = answer.days || [];
  if (!days.length) {
    card.append(h("p", { class: "empty" }, `No pending ${currency} is waiting to become available.`));
    return;
  }
  const bars = days.map((d) => ({
    label: dayLabel(d.date), value: toNumber(d.amount), text: minor(d.amount, currency), date: d.date,
  }));
  card.append(barChart({
    title: `Becoming available (${currency})`,
    summary: bars.map((b) => `${b.date}: ${b.text}`).join("; "),
    bars,
    valueLabel: "Becomes available", labelHeading: "Day",
  }));
}

async function movements(card, query, area, navigate, stale) {
  const values = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) || ""]));
  const page = Math.max(1, Number(query.get("page")) || 1);
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter balance transactions" },
    field({ label: "Type", name: "type", value: values.type, options: [["", "Any type"], ...TYPES.map((t) => [t, t])] }),
    field({ label: "Currency", name: "currency", value: values.currency,
      options: [["", "Any currency"], ...CURRENCIES.map((c) => [c, c])] }),
    field({ label: "From", name: "from", type: "date", value: values.from }),
    field({ label: "To", name: "to", type: "date", value: values.to }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Apply filters")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(area.link("/payouts/balance", { chart: query.get("chart") || "", ...formValues(form) }));
  });
  const body = h("div");
  card.append(form, body);
  let answer;
  try {
    answer = await norpay("GET", "/api/v2/balance/transactions", { query: {
      ...area.scope, type: values.type, currency: values.currency,
      from: dayBound(values.from), to: dayBound(values.to, { end: true }), page, per_page: PER_PAGE } });
  } catch (err) {
    body.append(notice(err.message, "error"));
    return;
  }
  if (stale()) return;
  const total = Number(answer.pagination?.total ?? answer.transactions.length);
  append(body, [
    h("p", { class: "count" }, `${total} ${total === 1 ? "movement" : "movements"}`),
    table({
      caption: "Balance transactions, newest first",
      empty: FILTERS.some((k) => values[k]) ? "No movement matches these filters." : "No movement yet.",
      columns: [
        { label: "Created", cell: (t) => when(t.createdAt) },
        { label: "Type", cell: (t) => t.type },
        { label: "Description", class: "wrap", cell: (t) => t.description || "—" },
        { label: "Source", class: "mono", cell: (t) => sourceLink(t.sourceId, area) },
        { label: "Amount", class: "num", cell: (t) => minor(t.amount, t.currency) },
        { label: "Status", cell: (t) => badge(t.status) },
        { label: "Available on", cell: (t) => when(t.availableOn) },
      ],
      rows: answer.transactions,
    }),
    pager(page, total, PER_PAGE, (p) => area.link("/payouts/balance", { ...values, chart: query.get("chart") || "", page: p }))]);
}

function sourceLink(id, area) {
  if (!id) return "—";
  if (id.startsWith("po_")) return h("a", { href: area.link(`/payouts/${encodeURIComponent(id)}`), "data-link": "" }, id);
  if (id.startsWith("pay_")) return h("a", { href: `/console/payments/${encodeURIComponent(id)}`, "data-link": "" }, id);
  return id;
}
