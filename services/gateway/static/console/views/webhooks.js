// Webhook endpoints and deliveries (NorPay /api/v2/webhooks): add an endpoint (its
// secret is shown once), send it a test event, follow deliveries and send one again.
// The event types offered are the notifier's (GET /api/v2/webhooks/event-types, from
// shared/events/catalog.py), never a list of the console's own; a notifier without
// that route gets the comma-separated field instead.

import { norpay } from "../lib/api.js";
import { deliveryColumns } from "../lib/deliveries.js";
import { badge, busy, button, dl, field, formValues, h, newId, notice, table } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { merchantField, merchantIdOf } from "../lib/merchants.js";

const DELIVERY_STATUSES = ["pending", "succeeded", "failed", "canceled"];

// The event types an endpoint may subscribe to, or null when the notifier cannot say
// (no such route yet, or it is down).
async function eventTypes() {
  try {
    const result = await norpay("GET", "/api/v2/webhooks/event-types");
    const types = Array.isArray(result) ? result : result.eventTypes || result.events || [];
    return types.map((t) => (typeof t === "string" ? t : t.type)).filter(Boolean);
  } catch {
    return null; // the form still works, with the free-text field
  }
}

// "Every event", or the chosen types, as checkboxes grouped by object (payment.*,
// payout.*, ...).
function eventsFieldset(types) {
  const box = (value, text, checked) => {
    const id = newId("event");
    return h("div", { class: "check" },
      h("input", { type: "checkbox", id, name: "events", value, checked }),
      h("label", { for: id, class: value === "*" ? "" : "mono" }, text));
  };
  const groups = new Map();
  for (const t of types) {
    const g = t.split(".")[0];
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(t);
  }
  const set = h("fieldset", { class: "events" },
    h("legend", {}, "Events"),
    h("p", { class: "hint" }, "Every event, or only the types you tick"),
    box("*", "Every event (*)", true),
    h("div", { class: "event-groups" }, [...groups].map(([g, ts]) => h("div", { class: "event-group", role: "group", "aria-label": `${g} events` },
      ts.map((t) => box(t, t, false))))));
  // Ticking a type unticks "every event", and the other way round.
  set.addEventListener("change", (event) => {
    const all = set.querySelector("input[value='*']");
    if (event.target === all && all.checked) {
      for (const c of set.querySelectorAll("input[name=events]")) if (c !== all) c.checked = false;
    } else if (event.target !== all && event.target.checked) {
      all.checked = false;
    }
  });
  return set;
}

function chosenEvents(form) {
  const boxes = form.querySelectorAll("input[type=checkbox][name=events]");
  if (boxes.length) return [...boxes].filter((c) => c.checked).map((c) => c.value);
  const text = formValues(form).events;
  return text ? text.split(",").map((s) => s.trim()).filter(Boolean) : ["*"];
}

export default {
  title: "Webhooks",
  async render({ el, session, announce, stale }) {
    const out = h("div", { class: "form-out", "aria-live": "polite" });
    const types = await eventTypes();
    const form = h("form", { class: "card", "aria-labelledby": "new-endpoint-title" },
      h("h2", { id: "new-endpoint-title" }, "Add an endpoint"),
      await merchantField(session),
      field({ label: "URL", name: "url", type: "url", required: true, placeholder: "https://shop.example/webhooks",
        hint: "norgate POSTs signed events here (see docs/webhooks.md for verifying them)" }),
      types ? eventsFieldset(types)
        : field({ label: "Events", name: "events", hint: "Comma-separated event types, or * for every event", value: "*" }),
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
              { "aria-label": `Send test event to ${e.url}`, disabled: !e.enabled }) },
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
      const events = chosenEvents(form);
      if (!events.length) {
        say("Events: tick “Every event” or at least one event type", "error");
        return;
      }
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
