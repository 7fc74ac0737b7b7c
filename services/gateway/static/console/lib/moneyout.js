// The money-out area: balance, payouts, settlement accounts, the payout schedule and
// reconciliation. Each page is about one merchant (a MERCHANT's own; ADMIN and SUPER
// pick one, kept in the URL as ?merchantId=) and one mode: the console's switch, which
// lib/api.js sends with every call, so test balances and payouts (the sandbox rails)
// never mix with live ones.

import { getMode, isManager } from "./api.js";
import { append, badge, h } from "./dom.js";
import { merchantScope } from "./merchants.js";

export const AREA = [
  ["/payouts/balance", "Balance"],
  ["/payouts", "Payouts"],
  ["/payouts/accounts", "Settlement accounts"],
  ["/payouts/schedule", "Payout schedule"],
  ["/payouts/reconciliation", "Reconciliation"],
];
export const PAYOUT_STATUSES = ["pending", "in_transit", "paid", "failed", "canceled"];
export const ACCOUNT_TYPES = ["BANK", "ECOCASH", "OMARI", "INNBUCKS"];
// Every rail money moves on (the pay-in methods), and those payouts go over.
export const RAILS = ["VISA_MASTER", "ECOCASH", "ZIMSWITCH", "OMARI", "INNBUCKS", "NOR_WALLET"];
export const PAYOUT_RAILS = ["ZIMSWITCH", "ECOCASH", "OMARI", "INNBUCKS"];

// Lays out a page of the area in `el`: its navigation, the mode it shows and, for ADMIN
// and SUPER, the merchant picker. `current` is the area entry to mark. Returns what
// the page needs to call the APIs for that merchant: `merchantId`, `scope` (the query
// the NorPay routes take: ?merchantId= for ADMIN and SUPER, nothing for a MERCHANT,
// whose token says who it is) and `link(path, params)` for links inside the area.
export async function areaPage({ el, session, query, navigate }, current) {
  const manager = isManager(session);
  const picked = await merchantScope(session, query, (merchantId) => {
    navigate(`${location.pathname.replace(/^\/console/, "")}?merchantId=${encodeURIComponent(merchantId)}`);
  });
  const keep = manager && picked.merchantId ? { merchantId: String(picked.merchantId) } : {};
  const link = (path, params = {}) => {
    const qs = new URLSearchParams({ ...keep, ...params });
    for (const [k, v] of [...qs.entries()]) if (!v) qs.delete(k);
    return `/console${path}${qs.toString() ? `?${qs}` : ""}`;
  };
  const mode = getMode();
  append(el, [
    h("nav", { class: "subnav", "aria-label": "Money out" },
      h("ul", {}, AREA.map(([path, text]) => h("li", {},
        h("a", { href: link(path), "data-link": "", "aria-current": path === current ? "page" : null }, text))))),
    h("p", { class: "mode-note" }, badge(mode), " ",
      mode === "live"
        ? "Live mode: live balances and payouts, over the rails your operator configured."
        : "Test mode: test balances and payouts on the sandbox rails; no real money moves."),
    picked.picker]);
  return {
    merchantId: picked.merchantId, none: !!picked.none, mode, link,
    scope: manager && picked.merchantId ? { merchantId: picked.merchantId } : {},
  };
}

// Where a payout went, as its (masked) destination says: "BANK ****0002, Acme Bank".
export function destinationText(d) {
  if (!d) return "Default account";
  const names = [d.bankName, d.accountName].filter(Boolean).join(", ");
  return `${d.type} ****${d.last4}${names ? `, ${names}` : ""}`;
}

// A settlement account as a select option or a line of text.
export function accountText(a) {
  const number = a.accountNumber || a.phoneNumber || `****${a.last4}`;
  const where = a.type === "BANK" ? [a.bankName, a.accountName].filter(Boolean).join(", ") : a.accountName;
  return `${a.type} ${number}${where ? ` (${where})` : ""} ${a.currency}${a.isDefault ? ", default" : ""}`;
}

// Previous/next links of a paged list; href(page) gives each page's URL.
export function pager(page, total, perPage, href) {
  const pages = Math.max(1, Math.ceil(total / perPage));
  if (pages === 1) return null;
  const link = (p, text) => h("a", { href: href(p), "data-link": "", class: "button" }, text);
  return h("nav", { class: "pager", "aria-label": "Pages" },
    page > 1 ? link(page - 1, "Previous page") : null,
    h("span", {}, `Page ${page} of ${pages}`),
    page < pages ? link(page + 1, "Next page") : null);
}
