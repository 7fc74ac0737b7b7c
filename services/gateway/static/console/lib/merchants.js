// ADMIN and SUPER act for one of their merchants: a select of them for forms.

import { isManager, norah } from "./api.js";
import { field } from "./dom.js";

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
