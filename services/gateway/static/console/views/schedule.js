// A merchant's payout schedule (NORAH GET/PUT /api/v1/admin/merchants/{id}/payout-
// schedule): manual, or an automatic payout of the available balance daily, weekly (on
// a weekday) or monthly (on a day of the month); the delay before a payment's money is
// available; the smallest balance worth a payout. The schedule is one for every
// currency, so that minimum is in minor units (5000: 50.00 USD, 50.00 ZAR, ...).

import { norah } from "../lib/api.js";
import { busy, dl, field, formValues, h, notice, showField } from "../lib/dom.js";
import { minor, when } from "../lib/format.js";
import { areaPage } from "../lib/moneyout.js";

const INTERVALS = [["manual", "Manual: only the payouts you create"], ["daily", "Daily"],
  ["weekly", "Weekly"], ["monthly", "Monthly"]];
const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

export default {
  title: "Payout schedule",
  async render(ctx) {
    const { el, announce, stale } = ctx;
    const area = await areaPage(ctx, "/payouts/schedule");
    if (stale()) return;
    if (area.none || !area.merchantId) {
      el.append(h("p", { class: "empty" }, "No merchant yet."));
      return;
    }
    const path = `/api/v1/admin/merchants/${encodeURIComponent(area.merchantId)}/payout-schedule`;
    let schedule;
    try {
      ({ data: schedule } = await norah("GET", path));
    } catch (err) {
      el.append(notice(err.message, "error"));
      announce(`Could not load the schedule: ${err.message}`);
      return;
    }
    if (stale()) return;
    const facts = h("section", { class: "card", "aria-labelledby": "current-title" },
      h("h2", { id: "current-title", tabindex: "-1" }, "Current schedule"));
    const factsBody = h("div");
    facts.append(factsBody);
    const show = (s) => factsBody.replaceChildren(dl([
      ["Interval", s.interval],
      s.interval === "weekly" ? ["Day of the week", s.weeklyAnchor] : null,
      s.interval === "monthly" ? ["Day of the month", s.monthlyAnchor === null || s.monthlyAnchor === undefined ? null : String(s.monthlyAnchor)] : null,
      ["Delay", `${s.delayDays} ${Number(s.delayDays) === 1 ? "day" : "days"}`],
      ["Minimum amount", minimumText(s.minimumAmount)],
      ["Next automatic payout", s.interval === "manual" ? "none (manual)" : when(s.nextRunAt)],
    ]));
    show(schedule);

    const formOut = h("div", { class: "form-out", "aria-live": "polite" });
    const weekly = field({ label: "Day of the week", name: "weeklyAnchor", value: schedule.weeklyAnchor || "monday",
      options: WEEKDAYS.map((d) => [d, d[0].toUpperCase() + d.slice(1)]) });
    const monthly = field({ label: "Day of the month", name: "monthlyAnchor", type: "number", min: 1, max: 31,
      value: schedule.monthlyAnchor ?? 1, hint: "In a shorter month, a day past its end is its last day" });
    const form = h("form", { class: "card", "aria-labelledby": "edit-title", novalidate: true },
      h("h2", { id: "edit-title" }, "Change the schedule"),
      h("div", { class: "grid-2" },
        field({ label: "Interval", name: "interval", value: schedule.interval, options: INTERVALS }),
        weekly, monthly,
        field({ label: "Delay (days)", name: "delayDays", type: "number", min: 0, max: 30, value: schedule.delayDays,
          hint: "How long a payment's money stays pending before it is available (0 to 30)" }),
        field({ label: "Minimum amount (minor units)", name: "minimumAmount", inputmode: "numeric", autocomplete: "off",
          value: schedule.minimumAmount ?? "0",
          hint: "In each currency's smallest unit: 5000 is 50.00 USD. An automatic payout waits until the available balance reaches it; 0 pays out any amount." })),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save schedule")),
      formOut);
    const showAnchors = () => {
      const interval = form.elements.interval.value;
      showField(weekly, interval === "weekly");
      showField(monthly, interval === "monthly");
    };
    form.elements.interval.addEventListener("change", showAnchors);
    showAnchors();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = formValues(form);
      if (!/^\d+$/.test(v.minimumAmount || "0")) {
        formOut.replaceChildren(notice("Minimum amount: a whole number of minor units, e.g. 5000 for 50.00 USD", "error"));
        form.elements.minimumAmount.focus();
        return;
      }
      const body = {
        interval: v.interval,
        weeklyAnchor: v.interval === "weekly" ? v.weeklyAnchor : null,
        monthlyAnchor: v.interval === "monthly" ? Number(v.monthlyAnchor) : null,
        delayDays: v.delayDays === "" ? undefined : Number(v.delayDays),
        minimumAmount: v.minimumAmount || "0", // a string: exact at any size
      };
      await busy(form.querySelector("button[type=submit]"), async () => {
        try {
          const { data } = await norah("PUT", path, { body });
          show(data);
          const text = `Schedule saved: ${data.interval}${data.interval === "manual" ? "" : `, next payout ${when(data.nextRunAt)}`}.`;
          formOut.replaceChildren(notice(text));
          announce(text);
        } catch (err) {
          formOut.replaceChildren(notice(err.message, "error"));
        }
      });
    });
    el.append(facts, form);
    announce(`Payout schedule: ${schedule.interval}`);
  },
};

// "5000" -> "5000 minor units (50.00 in a currency of two decimals)"; "0" -> "none".
function minimumText(value) {
  if (!value || BigInt(value) === 0n) return "none: any amount is paid out";
  return `${value} minor units (${minor(value, "USD").replace(/ USD$/, "")} in a currency of two decimals)`;
}
