// The webhook-delivery table both the payment page and the webhooks page show.

import { badge, button } from "./dom.js";
import { when } from "./format.js";

// Columns of a delivery row; `delivery` renders its id cell (text or a link-button),
// `redeliver(btn, d)` runs when its Redeliver button is pressed.
export function deliveryColumns({ redeliver, delivery = (d) => d.deliveryId }) {
  return [
    { label: "Event", class: "mono", cell: (d) => d.event },
    { label: "Delivery", class: "mono", cell: delivery },
    { label: "Endpoint", class: "mono", cell: (d) => d.endpointId },
    { label: "Status", cell: (d) => badge(d.status) },
    { label: "Trigger", cell: (d) => d.trigger },
    { label: "Attempts", class: "num", cell: (d) => String(d.attempts) },
    { label: "Last answer", cell: (d) => d.lastStatusCode ? `HTTP ${d.lastStatusCode}` : (d.lastError || "—") },
    { label: "Created", cell: (d) => when(d.createdAt) },
    { label: "Actions", cell: (d) => button("Redeliver", (event) => redeliver(event.currentTarget, d),
      { "aria-label": `Redeliver ${d.event} delivery ${d.deliveryId}` }) },
  ];
}
