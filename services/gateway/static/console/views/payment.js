// One payment: its facts (NorPay GET /api/v2/payments/{id}), the timeline of its status
// changes (GET .../timeline) and the webhook deliveries of each event, which can be sent
// again from here.

import { norpay } from "../lib/api.js";
import { deliveryColumns } from "../lib/deliveries.js";
import { badge, busy, button, dl, h, notice, table } from "../lib/dom.js";
import { minor, when } from "../lib/format.js";

export default {
  title: (params) => `Payment ${params.paymentId}`,
  async render({ el, params, announce, stale }) {
    const id = encodeURIComponent(params.paymentId);
    let payment, timeline;
    try {
      [payment, timeline] = await Promise.all([
        norpay("GET", `/api/v2/payments/${id}`),
        norpay("GET", `/api/v2/payments/${id}/timeline`),
      ]);
    } catch (err) {
      el.append(notice(err.status === 404 ? "No such payment in your account." : err.message, "error"),
        h("p", {}, h("a", { href: "/console/payments", "data-link": "" }, "Back to payments")));
      announce(err.message);
      return;
    }
    if (stale()) return;
    const cur = payment.currency;
    el.append(
      h("p", {}, h("a", { href: "/console/payments", "data-link": "" }, "← All payments")),
      h("section", { class: "card", "aria-labelledby": "facts-title" },
        h("h2", { id: "facts-title" }, "Summary"),
        dl([
          ["Status", badge(payment.status)],
          ["Trace", h("span", { class: "mono" }, timeline.trace)],
          ["Amount", minor(payment.amount, cur)],
          ["Charges", minor(payment.charges, cur)],
          ["Net amount", minor(payment.netAmount, cur)],
          ["Refunded", minor(payment.refundedAmount, cur)],
          ["Method", payment.paymentMethod],
          ["Description", payment.description],
          ["Payer", payment.payer],
          ["Transaction hash", payment.transactionHash],
          ["Failure reason", payment.failureReason],
          ["Created", when(payment.createdAt)],
          ["Completed", when(payment.completedAt)],
          ["Checkout page", h("a", { href: payment.checkoutUrl }, payment.checkoutUrl)],
        ])),
      h("section", { class: "card", "aria-labelledby": "timeline-title" },
        h("h2", { id: "timeline-title" }, "Timeline"),
        h("ol", { class: "timeline" }, timeline.events.map((e) => h("li", {},
          h("span", { class: "when" }, when(e.at)), " ", badge(e.status),
          e.event ? h("span", { class: "event mono" }, ` ${e.event}`) : null,
          detailText(e.detail))))));
    const deliveries = h("section", { class: "card", "aria-labelledby": "deliveries-title" },
      h("h2", { id: "deliveries-title" }, "Webhook deliveries"));
    el.append(deliveries);
    await loadDeliveries(deliveries, timeline.events, announce, stale);
    announce(`Payment ${payment.paymentId}: ${payment.status}, ${timeline.events.length} events`);
  },
};

function detailText(detail) {
  const parts = Object.entries(detail || {}).filter(([, v]) => v !== null && v !== "")
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
  return parts.length ? h("span", { class: "detail" }, ` (${parts.join(", ")})`) : null;
}

function loadDeliveries(section, events, announce, stale) {
  const body = h("div", { class: "deliveries-body" });
  const out = h("div", { class: "form-out", "aria-live": "polite" });
  const again = button("Refresh deliveries", () => fill(), { class: "small" });
  section.append(again, body, out);
  const ids = events.map((e) => e.eventId).filter(Boolean);

  async function fill() {
    if (!ids.length) {
      body.replaceChildren(h("p", { class: "empty" }, "No event of this payment can be matched to deliveries (events older than 7 days are not traced)."));
      return;
    }
    let rows;
    try {
      const pages = await Promise.all(ids.map((eventId) =>
        norpay("GET", "/api/v2/webhooks/deliveries", { query: { eventId, per_page: 100 } })));
      rows = pages.flatMap((p) => p.deliveries);
    } catch (err) {
      body.replaceChildren(notice(err.message, "error"));
      return;
    }
    if (stale()) return;
    const hadFocus = body.contains(document.activeElement);
    rows.sort((a, b) => Number(b.createdAt) - Number(a.createdAt) || (a.deliveryId < b.deliveryId ? 1 : -1));
    body.replaceChildren(table({
      caption: "Deliveries of this payment's events, newest first",
      empty: "No webhook endpoint received this payment's events.",
      columns: deliveryColumns({ redeliver }),
      rows,
    }));
    if (hadFocus) again.focus();
  }

  async function redeliver(btn, d) {
    await busy(btn, async () => {
      try {
        const made = await norpay("POST", `/api/v2/webhooks/deliveries/${encodeURIComponent(d.deliveryId)}/redeliver`);
        out.replaceChildren(`Redelivery ${made.deliveryId} of ${d.event} queued.`);
        announce(`Redelivery ${made.deliveryId} queued`);
      } catch (err) {
        out.replaceChildren(notice(err.message, "error"));
        return;
      }
      await new Promise((resolve) => { setTimeout(resolve, 1000); });
      if (!stale()) await fill();
    });
  }

  return fill();
}
