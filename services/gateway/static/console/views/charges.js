// Charge rules: the merchant's own (GET /api/v1/merchant/charges) and the system rules
// every merchant without rules of its own pays (GET /api/v1/system/charges).

import { norah } from "../lib/api.js";
import { badge, h, notice, table } from "../lib/dom.js";

const COLUMNS = [
  { label: "Category", cell: (c) => c.chargeCategory },
  { label: "Type", cell: (c) => c.chargeType },
  { label: "Value", class: "num", cell: (c) => c.chargeType === "PERCENTAGE" ? `${c.value} %` : `${c.value} ${c.currency}` },
  { label: "Currency", cell: (c) => c.currency },
  { label: "Applies from", class: "num", cell: (c) => `${c.minThreshold}${c.maxThreshold !== null && c.maxThreshold !== undefined ? ` to ${c.maxThreshold}` : " up"}` },
  { label: "Narration", cell: (c) => c.statementNarration || "—" },
  { label: "Status", cell: (c) => badge(c.status) },
];

export default {
  title: "Charges",
  async render({ el, announce, stale }) {
    const [mine, system] = await Promise.allSettled([
      norah("GET", "/api/v1/merchant/charges", { query: { per_page: 100 } }),
      norah("GET", "/api/v1/system/charges", { query: { per_page: 100 } }),
    ]);
    if (stale()) return;
    const section = (id, title, result, caption, extra) => h("section", { class: "card", "aria-labelledby": id },
      h("h2", { id }, title),
      result.status === "rejected" ? notice(result.reason.message, "error")
        : table({ caption, columns: [...extra, ...COLUMNS], rows: result.value.data, empty: "No rules." }));
    el.append(
      h("p", { class: "lead" }, "The fees taken from each payment. Merchant rules come first; where a merchant has none for a currency, the system rules apply."),
      section("mine-title", "Merchant charges", mine, "Merchant charge rules",
        [{ label: "Merchant", cell: (c) => c.merchantUserName || String(c.merchantId) }]),
      section("system-title", "System charges", system, "System charge rules", []));
    const n = mine.status === "fulfilled" ? mine.value.data.length : 0;
    announce(`${n} merchant charge ${n === 1 ? "rule" : "rules"}`);
  },
};
