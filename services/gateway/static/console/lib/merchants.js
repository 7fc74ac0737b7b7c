// ADMIN and SUPER act for one of their merchants: a select of them for forms, or for a
// whole page about one merchant.

import { isManager, norah } from "./api.js";
import { field, formValues, h } from "./dom.js";

export async function merchantField(session, label = "Merchant") {
  if (!isManager(session)) return null;
  const { data } = await norah("GET", "/api/v1/admin/merchants", { query: { per_page: 100 } });
  return field({
    label, name: "merchantId", required: true,
    options: data.map((m) => [m.merchantId, `${m.merchantName} (${m.status})`]),
  });
}

export function merchantIdOf(values) {
  return values.merchantId ? Number(values.merchantId) : undefined;
}

// A page about one merchant (the money-out pages): a MERCHANT's own, from the session;
// ADMIN and SUPER pick one of theirs in a select that keeps the choice in the URL
// (?merchantId=), the first merchant until they pick. `picker` is null for a MERCHANT.
export async function merchantScope(session, query, onPick) {
  if (!isManager(session)) return { merchantId: session.merchantId, picker: null };
  const { data } = await norah("GET", "/api/v1/admin/merchants", { query: { per_page: 100 } });
  const asked = query.get("merchantId");
  const chosen = data.find((m) => String(m.merchantId) === asked) || data[0];
  if (!chosen) return { merchantId: null, picker: null, none: true };
  const picker = h("form", { class: "filters inline card", "aria-label": "Choose the merchant" },
    field({
      label: "Merchant", name: "merchantId", value: chosen.merchantId,
      options: data.map((m) => [m.merchantId, `${m.merchantName} (${m.status})`]),
    }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Show")));
  picker.addEventListener("submit", (event) => {
    event.preventDefault();
    onPick(formValues(picker).merchantId);
  });
  return { merchantId: chosen.merchantId, picker, merchantName: chosen.merchantName };
}
