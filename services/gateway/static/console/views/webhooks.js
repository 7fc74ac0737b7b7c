// Webhook endpoints and deliveries (NorPay /api/v2/webhooks): add an endpoint (its
// secret is shown once), send it a test event, follow deliveries and send one again.

import { norpay } from "../lib/api.js";
import { deliveryColumns } from "../lib/deliveries.js";
import { badge, busy, button, dl, field, formValues, h, notice, table } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { merchantField, merchantIdOf } from "../lib/merchants.js";

const DELIVERY_STATUSES = ["pending", "succeeded", "failed", "canceled"];

export default {
  title: "Webhooks",
  async render({ el, session, announce, stale }) {
    const out = h("div", { class: "form-out", "aria-live": "polite" });
    const form = h("form", { class: "card", "aria-labelledby": "new-endpoint-title" },
      h("h2", { id: "new-endpoint-title" }, "Add an endpoint"),
      await merchantField(session),
      field({ label: "URL", name: "url", type: "url", required: true, placeholder: "https://shop.example/webhooks",
        hint: "norgate POSTs signed events here (see docs/webhooks.md for verifying them)" }),
      field({ label: "Events", name: "events", hint: "Comma-separated event types, or * for every event", value: "*" }),
      field({ label: "Description", name: "description", maxlength: 200 }),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add endpoint")));
    const endpoints = h("section", { class: "card", "aria-labelledby": "endpoints-title" },
      h("h2", { id: "endpoints-title", tabindex: "-1" }, "Endpoints"));
    const endpointsBody = h("div");
    endpoints.append(endpointsBody);
    const filter = h("form", { class: "filters inline", "aria-label": "Filter deliveries" },
      field({ label: "Status", name: "status", options: [["", "Any status"], ...DELIVERY_STATUSES.map((s) => [s, s])] }),
      field({ label: "Event type", name: "event", placeholder: "payment.completed" }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Show deliveries")));
    const deliveries = h("section", { class: "card", "aria-labelledby": "deliveries-title" },
      h("h2", { id: "deliveries-title", tabindex: "-1" }, "Recent deliveries"), filter);
    const deliveriesBody = h("div");
    const detail = h("div", { class: "delivery-detail" });
    deliveries.append(deliveriesBody, detail);
    if (stale()) return;
    el.append(out, form, endpoints, deliveries);

    const say = (text, kind) => {
      out.replaceChildren(notice(text, kind));
      if (kind !== "error") announce(text);
    };

    async function loadEndpoints() {
      try {
        const result = await norpay("GET", "/api/v2/webhooks/endpoints", { query: { per_page: 100 } });
        endpointsBody.replaceChildren(table({
          caption: "Webhook endpoints",
          empty: "No endpoint yet: add one above.",
          columns: [
            { label: "URL", class: "mono wrap", cell: (e) => e.url },
            { label: "Events", cell: (e) => e.events.join(", ") },
            { label: "Source", cell: (e) => e.source },
            { label: "Status", cell: (e) => badge(e.enabled ? "enabled" : `disabled${e.disabledReason ? ` (${e.disabledReason})` : ""}`) },
            { label: "Actions", cell: (e) => button("Send test event", (event) => sendTest(event.currentTarget, e),
              { "aria-label": `Send a test event to ${e.url}`, disabled: !e.enabled }) },
          ],
          rows: result.endpoints,
        }));
      } catch (err) {
        endpointsBody.replaceChildren(notice(err.message, "error"));
      }
    }

    async function loadDeliveries() {
      const values = formValues(filter);
      try {
        const result = await norpay("GET", "/api/v2/webhooks/deliveries",
          { query: { status: values.status, event: values.event, per_page: 20 } });
        const hadFocus = deliveriesBody.contains(document.activeElement);
        deliveriesBody.replaceChildren(
          h("p", { class: "count" }, `${result.pagination.total} deliveries${values.status || values.event ? " match" : ""}; the latest 20 below.`),
          table({
            caption: "Deliveries, newest first",
            empty: "No deliveries yet.",
            columns: deliveryColumns({
              redeliver,
              delivery: (d) => button(d.deliveryId, () => showDelivery(d.deliveryId),
                { class: "link-button", "aria-label": `Attempts of delivery ${d.deliveryId}` }),
            }),
            rows: result.deliveries,
          }));
        if (hadFocus) deliveries.querySelector("h2").focus();
      } catch (err) {
        deliveriesBody.replaceChildren(notice(err.message, "error"));
      }
    }

    async function showDelivery(deliveryId) {
      try {
        const d = await norpay("GET", `/api/v2/webhooks/deliveries/${encodeURIComponent(deliveryId)}`);
        const title = h("h3", { tabindex: "-1" }, `Delivery ${d.deliveryId}`);
        detail.replaceChildren(title,
          dl([["Event", d.event], ["Event id", d.eventId], ["Status", badge(d.status)],
            ["Next attempt", when(d.nextAttemptAt)], ["Completed", when(d.completedAt)]]),
          table({
            caption: "Attempts",
            empty: "Not attempted yet.",
            columns: [
              { label: "#", class: "num", cell: (a) => String(a.attempt) },
              { label: "At", cell: (a) => when(a.attemptedAt) },
              { label: "Answer", cell: (a) => a.statusCode ? `HTTP ${a.statusCode}` : (a.error || "—") },
              { label: "Time", class: "num", cell: (a) => `${a.responseTimeMs} ms` },
              { label: "Response body", class: "mono wrap", cell: (a) => a.responseBody || "—" },
            ],
            rows: d.attemptLog || [],
          }));
        title.focus();
      } catch (err) {
        detail.replaceChildren(notice(err.message, "error"));
      }
    }

    async function sendTest(btn, endpoint) {
      await busy(btn, async () => {
        try {
          const d = await norpay("POST", `/api/v2/webhooks/endpoints/${encodeURIComponent(endpoint.endpointId)}/test`, { body: {} });
          say(`Test event queued for ${endpoint.url} (delivery ${d.deliveryId}).`);
          await pause();
          await loadDeliveries();
        } catch (err) {
          say(err.message, "error");
        }
      });
    }

    async function redeliver(btn, d) {
      await busy(btn, async () => {
        try {
          const made = await norpay("POST", `/api/v2/webhooks/deliveries/${encodeURIComponent(d.deliveryId)}/redeliver`);
          say(`Redelivery ${made.deliveryId} of ${d.event} queued.`);
          await pause();
          await loadDeliveries();
        } catch (err) {
          say(err.message, "error");
        }
      });
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = formValues(form);
      const events = values.events ? values.events.split(",").map((s) => s.trim()).filter(Boolean) : ["*"];
      await busy(form.querySelector("button[type=submit]"), async () => {
        try {
          const e = await norpay("POST", "/api/v2/webhooks/endpoints", { body: {
            url: values.url, events, description: values.description || undefined,
            merchantId: merchantIdOf(values) } });
          const secretId = `secret-${e.endpointId}`;
          out.replaceChildren(h("div", { class: "secret", role: "status" },
            h("p", {}, h("strong", {}, `Endpoint added. Copy its signing secret now: it is not shown again.`)),
            h("label", { for: secretId }, `Signing secret of ${e.url}`),
            h("input", { id: secretId, class: "mono", readonly: true, value: e.secret, "data-secret": "" })));
          announce("Endpoint added. Copy its signing secret now: it is not shown again.");
          form.reset();
          document.getElementById(secretId).focus();
          await loadEndpoints();
        } catch (err) {
          say(err.message, "error");
        }
      });
    });
    filter.addEventListener("submit", (event) => {
      event.preventDefault();
      loadDeliveries().then(() => announce("Deliveries updated"));
    });
    await Promise.all([loadEndpoints(), loadDeliveries()]);
  },
};

const pause = () => new Promise((resolve) => { setTimeout(resolve, 1000); });
