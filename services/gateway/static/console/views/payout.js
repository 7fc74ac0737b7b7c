// One payout (NorPay GET /api/v2/payouts/{id}): its facts, where it went (masked), why
// it failed, and its timeline (pending, in transit, paid | failed, or canceled); a
// pending one can be canceled from here.

import { norpay } from "../lib/api.js";
import { badge, dl, h, notice } from "../lib/dom.js";
import { minor, when } from "../lib/format.js";
import { areaPage, destinationText } from "../lib/moneyout.js";
import { cancelControl } from "./payouts.js";

export default {
  title: (params) => `Payout ${params.payoutId}`,
  async render(ctx) {
    const { el, params, announce, stale } = ctx;
    const area = await areaPage(ctx, "/payouts");
    if (stale()) return;
    const body = h("div");
    const out = h("div", { class: "form-out", "aria-live": "polite" });
    el.append(h("p", {}, h("a", { href: area.link("/payouts"), "data-link": "" }, "← All payouts")), out, body);

    async function load() {
      let p;
      try {
        p = await norpay("GET", `/api/v2/payouts/${encodeURIComponent(params.payoutId)}`, { query: area.scope });
      } catch (err) {
        body.replaceChildren(notice(err.status === 404 ? "No such payout in this account and mode." : err.message, "error"));
        announce(err.message);
        return null;
      }
      if (stale()) return null;
      const cur = p.currency;
      const d = p.destination || {};
      body.replaceChildren(
        h("section", { class: "card", "aria-labelledby": "facts-title" },
          h("h2", { id: "facts-title" }, "Summary"),
          dl([
            ["Status", badge(p.status)],
            ["Amount", minor(p.amount, cur)],
            ["Fee", minor(p.fee, cur)],
            ["To", destinationText(p.destination)],
            ["Settlement account", h("span", { class: "mono" }, d.settlementAccountId || "—")],
            ["Kind", p.automatic ? "automatic (payout schedule)" : "manual"],
            ["Description", p.description],
            ["Rail reference", p.railReference ? h("span", { class: "mono" }, p.railReference) : null],
            p.failureReason || p.failureCode ? ["Failure", `${p.failureReason || ""}${p.failureCode ? ` (${p.failureCode})` : ""}`.trim()] : null,
            ["Mode", badge(p.livemode ? "live" : "test")],
            ["Created", when(p.createdAt)],
            p.inTransitAt ? ["Sent to the rail", when(p.inTransitAt)] : null,
            ["Paid", when(p.paidAt)],
            p.failedAt ? ["Failed", when(p.failedAt)] : null,
            p.canceledAt ? ["Canceled", when(p.canceledAt)] : null,
            Object.keys(p.metadata || {}).length ? ["Metadata", h("span", { class: "mono" }, JSON.stringify(p.metadata))] : null,
          ]),
          p.status === "pending" ? h("div", { class: "actions" }, cancelControl(p, {
            area,
            say: (text, kind) => {
              out.replaceChildren(notice(text, kind));
              if (kind !== "error") announce(text);
            },
            done: load,
          })) : null),
        h("section", { class: "card", "aria-labelledby": "timeline-title" },
          h("h2", { id: "timeline-title" }, "Timeline"),
          (p.timeline || []).length
            ? h("ol", { class: "timeline" }, p.timeline.map((e) => h("li", {},
              h("span", { class: "when" }, when(e.at)), " ", badge(e.status),
              e.note ? h("span", { class: "detail" }, ` ${e.note}`) : null)))
            : h("p", { class: "empty" }, "No status change yet.")));
      return p;
    }
    const p = await load();
    if (p) announce(`Payout ${p.payoutId}: ${p.status}, ${(p.timeline || []).length} steps`);
  },
};
