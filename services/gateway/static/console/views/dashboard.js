// Revenue and payments per hour (today) or day of a period, this period's bars with the
// previous period's line beside them, one currency at a time among those the merchant
// has (NorPay GET /api/v2/merchants/dashboard/series), the same figures in a table;
// then the period's payment, subscription and customer counts (GET
// /api/v2/merchants/dashboard).

import { norpay } from "../lib/api.js";
import { seriesChart } from "../lib/chart.js";
import { dl, field, formValues, h, notice, table } from "../lib/dom.js";
import { EXPONENT, minor, toNumber } from "../lib/format.js";
import { firstSteps } from "./first-steps.js";

const PERIODS = [["today", "Today"], ["week", "This week"], ["month", "This month"], ["year", "This year"]];
const PREVIOUS = { today: "yesterday", week: "last week", month: "last month", year: "last year" };
const UTC = { timeZone: "UTC" };
const HOUR = new Intl.DateTimeFormat("en-GB", { ...UTC, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const DAY_SHORT = new Intl.DateTimeFormat("en-GB", { ...UTC, day: "numeric", month: "short" });
const WEEKDAY = new Intl.DateTimeFormat("en-GB", { ...UTC, weekday: "short", day: "numeric" });
const DAY_LONG = new Intl.DateTimeFormat("en-GB", { ...UTC, weekday: "short", day: "numeric", month: "short", year: "numeric" });
const COMPACT = new Intl.NumberFormat("en-GB", { notation: "compact", maximumFractionDigits: 1 });

const at = (seconds) => new Date(Number(seconds) * 1000);

// A bucket as the chart's axis says it (short), as its row in the table says it, and the
// previous period's bucket beside it (with its day, or its year when that differs).
const DAY_MONTH = new Intl.DateTimeFormat("en-GB", { ...UTC, weekday: "short", day: "numeric", month: "short" });
function bucketLabels(series, period) {
  if (series.granularity === "hour") {
    return {
      axis: (b) => HOUR.format(at(b.start)),
      row: (b) => HOUR.format(at(b.start)),
      previous: (b) => `${DAY_MONTH.format(at(b.start))}, ${HOUR.format(at(b.start))}`,
    };
  }
  return {
    axis: (b) => (period === "week" ? WEEKDAY : DAY_SHORT).format(at(b.start)),
    row: (b) => DAY_MONTH.format(at(b.start)),
    previous: (b) => (period === "year" ? DAY_LONG : DAY_MONTH).format(at(b.start)),
  };
}

function rangeText(range, granularity) {
  const start = at(range.start);
  const end = at(Math.max(Number(range.start), Number(range.end) - 1));
  if (granularity === "hour") return `${DAY_LONG.format(start)}, ${HOUR.format(start)} to ${HOUR.format(at(range.end))} UTC`;
  const a = DAY_LONG.format(start);
  const b = DAY_LONG.format(end);
  return a === b ? a : `${a} to ${b}`;
}

// The currency the page opens on: the one asked for, else the busiest this period.
function pickCurrency(currencies, asked) {
  if (asked && currencies.some((c) => c.currency === asked)) return asked;
  const busy = [...currencies].sort((a, b) =>
    (b.current.completed + b.current.failed) - (a.current.completed + a.current.failed)
    || toNumber(b.current.revenue) - toNumber(a.current.revenue));
  return busy[0]?.currency || asked || "USD";
}

function change(now, before) {
  if (before === 0) return now === 0 ? "no change" : "new this period";
  const pct = Math.round(((now - before) / before) * 100);
  return pct === 0 ? "no change" : `${pct > 0 ? "+" : ""}${pct} %`;
}

function stat(label, now, before, text = String) {
  return h("div", { class: "stat" },
    h("p", { class: "stat-label" }, label),
    h("p", { class: "stat-value" }, text(now)),
    h("p", { class: "stat-before" }, `Previous: ${text(before)} (${change(toNumber(now), toNumber(before))})`));
}

export default {
  title: "Dashboard",
  async render({ el, query, navigate, announce, stale }) {
    firstSteps(el); // a new ADMIN's checklist, first on the page (views/first-steps.js)
    const period = PERIODS.some(([p]) => p === query.get("period")) ? query.get("period") : "month";
    const periodName = PERIODS.find(([p]) => p === period)[1];
    let series;
    try {
      series = await norpay("GET", "/api/v2/merchants/dashboard/series", { query: { period } });
    } catch (err) {
      el.append(notice(err.message, "error"));
      return;
    }
    if (stale()) return;
    const currencies = series.currencies;
    const currency = pickCurrency(currencies, (query.get("currency") || "").toUpperCase());
    const form = h("form", { class: "filters card inline", "aria-label": "Dashboard period and currency" },
      field({ label: "Period", name: "period", value: period, options: PERIODS }),
      currencies.length > 1
        ? field({ label: "Currency", name: "currency", value: currency, options: currencies.map((c) => [c.currency, c.currency]) })
        : null,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const values = formValues(form);
      const params = new URLSearchParams({ period: values.period });
      if (values.currency) params.set("currency", values.currency);
      navigate(`/dashboard?${params}`);
    });
    el.append(form);

    const unit = series.granularity === "hour" ? "hour" : "day";
    const section = h("section", { class: "card", "aria-labelledby": "revenue-title" },
      h("h2", { id: "revenue-title" }, `${periodName}: revenue and payments (${currency})`),
      h("p", { class: "lead" }, `${rangeText(series.current, series.granularity)}, per ${unit}, `
        + `compared with the same stretch of ${PREVIOUS[period]} (${rangeText(series.previous, series.granularity)}).`));
    el.append(section);
    const data = currencies.find((c) => c.currency === currency);
    if (!data) {
      section.append(h("p", { class: "empty" }, `No payments ${periodName.toLowerCase()} or ${PREVIOUS[period]}.`));
      announce(`Dashboard, ${periodName.toLowerCase()}: no payments`);
    } else {
      drawSeries(section, data, series, period, unit);
      announce(`Dashboard, ${periodName.toLowerCase()} in ${currency}: revenue ${minor(data.current.revenue, currency)}, `
        + `${data.current.completed} completed and ${data.current.failed} failed payments`);
    }

    let stats;
    try {
      stats = await norpay("GET", "/api/v2/merchants/dashboard", { query: { period, currency } });
    } catch (err) {
      el.append(notice(err.message, "error"));
      return;
    }
    if (stale()) return;
    el.append(
      h("section", { class: "card grid-2", "aria-labelledby": "period-title" },
        h("h2", { id: "period-title" }, `${periodName} in ${currency}`),
        h("div", {}, h("h3", {}, "Payments"), dl([
          ["Total", String(stats.payments.total)], ["Completed", String(stats.payments.completed)],
          ["Pending", String(stats.payments.pending)], ["Failed", String(stats.payments.failed)],
          ["Canceled", String(stats.payments.canceled)], ["Refunded", String(stats.payments.refunded)]])),
        h("div", {}, h("h3", {}, "Revenue by source"), dl([
          ["Payments", minor(stats.revenue.payments, currency)],
          ["Subscriptions", minor(stats.revenue.subscriptions, currency)],
          ["Total", minor(stats.revenue.total, currency)]])),
        h("div", {}, h("h3", {}, "Subscriptions"), dl([
          ["Active", String(stats.subscriptions.active)], ["Trialing", String(stats.subscriptions.trialing)],
          ["Past due", String(stats.subscriptions.past_due)], ["Canceled", String(stats.subscriptions.canceled)]])),
        h("div", {}, h("h3", {}, "Customers"), dl([
          ["Total", String(stats.customers.total)], ["New", String(stats.customers.new)]])),
        h("div", { class: "span-all" }, h("h3", {}, "Top products"), table({
          caption: `Top products, ${periodName.toLowerCase()}`,
          empty: `No product sold ${periodName.toLowerCase()}.`,
          columns: [
            { label: "Product", cell: (p) => p.name },
            { label: "Sold", class: "num", cell: (p) => String(p.count) },
            { label: "Revenue", class: "num", cell: (p) => minor(p.revenue, currency) },
          ],
          rows: stats.topProducts || [],
        }))));
  },
};

const quiet = (b) => b.revenue === "0" && b.completed === 0 && b.failed === 0;

function drawSeries(section, data, series, period, unit) {
  const { currency, current, previous, buckets } = data;
  const labels = bucketLabels(series, period);
  const scale = 10 ** (EXPONENT[currency] ?? 2);
  // Drawn to the room the card has now: narrow screens get a narrow picture, not a
  // shrunken wide one with unreadable text.
  const width = Math.max(260, Math.min(1000, section.clientWidth - 40));
  const money = (v) => (v ? `${COMPACT.format(v / scale)} ${currency}` : "0");
  const count = (v) => COMPACT.format(Math.round(v));
  section.append(
    h("div", { class: "stats" },
      stat("Revenue", current.revenue, previous.revenue, (v) => minor(v, currency)),
      stat("Completed payments", current.completed, previous.completed),
      stat("Failed payments", current.failed, previous.failed)),
    seriesChart({
      title: `Revenue per ${unit} in ${currency}`,
      summary: `This period ${minor(current.revenue, currency)}, the previous one ${minor(previous.revenue, currency)}. `
        + "Each bucket's figures are in the table below.",
      labels: buckets.map(labels.axis),
      current: buckets.map((b) => toNumber(b.revenue)),
      previous: buckets.map((b) => (b.previous ? toNumber(b.previous.revenue) : null)),
      format: money, width,
      legend: { current: "This period", previous: `Previous period (${PREVIOUS[period]})` },
    }),
    seriesChart({
      title: `Payments per ${unit} in ${currency}: completed and failed`,
      summary: `This period ${current.completed} completed and ${current.failed} failed; the previous one `
        + `${previous.completed} completed and ${previous.failed} failed. Each bucket's figures are in the table below.`,
      labels: buckets.map(labels.axis),
      current: buckets.map((b) => [b.completed, b.failed]),
      previous: buckets.map((b) => (b.previous ? b.previous.completed + b.previous.failed : null)),
      format: count, width, integer: true,
      legend: {
        stackedParts: ["Completed, this period", "Failed, this period"],
        previous: `All settled payments, previous period (${PREVIOUS[period]})`,
      },
    }),
    // Every bucket is drawn; the table lists those with a payment in either period
    // (a year is 365 rows otherwise, most of them zeros) and says so.
    table({
      caption: `Revenue and payments per ${unit} in ${currency}, this period and the previous one `
        + `(${unit === "hour" ? "hours" : "days"} with no payment in either are left out)`,
      columns: [
        { label: unit === "hour" ? "Hour (UTC)" : "Day (UTC)", cell: labels.row },
        { label: "Revenue", class: "num", cell: (b) => minor(b.revenue, currency) },
        { label: "Completed", class: "num", cell: (b) => String(b.completed) },
        { label: "Failed", class: "num", cell: (b) => String(b.failed) },
        { label: `Previous ${unit}`, cell: (b) => (b.previous ? labels.previous(b.previous) : "—") },
        { label: "Previous revenue", class: "num", cell: (b) => (b.previous ? minor(b.previous.revenue, currency) : "—") },
        { label: "Previous completed", class: "num", cell: (b) => (b.previous ? String(b.previous.completed) : "—") },
        { label: "Previous failed", class: "num", cell: (b) => (b.previous ? String(b.previous.failed) : "—") },
      ],
      rows: buckets.filter((b) => !quiet(b) || (b.previous && !quiet(b.previous))),
    }));
}
