// Payouts (NorPay /api/v2/payouts): the list with its status and date filters (kept in
// the URL), a new payout (the amount typed in major units, sent as exact minor units,
// with a fresh Idempotency-Key per submit), and cancel on a pending one.

import { idempotencyKey, isManager, norah, norpay } from "../lib/api.js";
import { badge, busy, button, clear, field, formValues, h, notice, table } from "../lib/dom.js";
import { AmountError, CURRENCIES, dayBound, minor, toMinor, when } from "../lib/format.js";
import { PAYOUT_STATUSES, accountText, areaPage, destinationText, pager } from "../lib/moneyout.js";

const FILTERS = ["status", "from", "to"];
const PER_PAGE = 20;

export async function settlementAccounts(merchantId) {
  const { data } = await norah("GET",
    `/api/v1/admin/merchants/${encodeURIComponent(merchantId)}/settlement-accounts`, { query: { per_page: 100 } });
  return data;
}

// Cancel with a confirmation step, as revoking a key asks.
export function cancelControl(p, { area, say, done }) {
  const wrap = h("span", { class: "confirm" });
  const ask = button("Cancel", () => {
    wrap.replaceChildren(
      h("span", { class: "confirm-text" }, `Cancel payout ${p.payoutId}? Its ${minor(p.amount, p.currency)} goes back to available.`),
      button("Yes, cancel it", async (event) => {
        await busy(event.currentTarget, async () => {
          try {
            const made = await norpay("POST", `/api/v2/payouts/${encodeURIComponent(p.payoutId)}/cancel`,
              { query: area.scope, headers: { "Idempotency-Key": idempotencyKey() } });
            say(`Payout ${made.payoutId} canceled.`);
            await done();
          } catch (err) {
            say(err.message, "error");
          }
        });
      }, { class: "danger" }),
      button("Keep it", () => { wrap.replaceChildren(ask); ask.focus(); }));
    wrap.querySelector("button").focus();
  }, { class: "danger", "aria-label": `Cancel payout ${p.payoutId}` });
  wrap.append(ask);
  return wrap;
}

export default {
  title: "Payouts",
  async render(ctx) {
    const { el, session, query, navigate, announce, stale } = ctx;
    const area = await areaPage(ctx, "/payouts");
    if (stale()) return;
    if (area.none) {
      el.append(h("p", { class: "empty" }, "No merchant yet."));
      return;
    }
    const values = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) || ""]));
    const page = Math.max(1, Number(query.get("page")) || 1);
    const out = h("div", { class: "form-out", "aria-live": "polite" });
    const say = (text, kind) => {
      out.replaceChildren(notice(text, kind));
      if (kind !== "error") announce(text);
    };

    const [balance, accounts] = await Promise.allSettled([
      norpay("GET", "/api/v2/balance", { query: area.scope }),
      settlementAccounts(area.merchantId),
    ]);
    if (stale()) return;
    const currencies = balance.status === "fulfilled" && balance.value.balances.length
      ? balance.value.balances.map((b) => b.currency) : CURRENCIES;
    const available = balance.status === "fulfilled"
      ? balance.value.balances.map((b) => `${minor(b.available, b.currency)} available`).join(", ") : "";
    const accountList = accounts.status === "fulfilled" ? accounts.value : [];

    const formOut = h("div", { class: "form-out", "aria-live": "polite" });
    const form = h("form", { class: "card", "aria-labelledby": "new-payout-title", novalidate: true },
      h("h2", { id: "new-payout-title" }, "New payout"),
      available ? h("p", { class: "hint" }, `You have ${available}.`) : null,
      h("div", { class: "grid-2" },
        field({ label: "Amount", name: "amount", required: true, inputmode: "decimal", autocomplete: "off",
          placeholder: "100.00", hint: "In the currency's units, e.g. 12.50" }),
        field({ label: "Currency", name: "currency", options: currencies.map((c) => [c, c]) }),
        field({ label: "Settlement account", name: "settlementAccountId",
          hint: accounts.status === "rejected" ? `Could not list the accounts: ${accounts.reason.message}` : "The currency's default account unless you pick one",
          options: [["", "The currency's default account"], ...accountList.map((a) => [a.settlementAccountId, accountText(a)])] }),
        field({ label: "Description", name: "description", maxlength: 200, placeholder: "Weekly settlement" })),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create payout")),
      formOut);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = formValues(form);
      const amountInput = form.elements.amount;
      let amount;
      try {
        amount = toMinor(v.amount, v.currency);
        amountInput.removeAttribute("aria-invalid");
      } catch (err) {
        if (!(err instanceof AmountError)) throw err;
        amountInput.setAttribute("aria-invalid", "true");
        formOut.replaceChildren(notice(`Amount: ${err.message}`, "error"));
        amountInput.focus();
        return;
      }
      await busy(form.querySelector("button[type=submit]"), async () => {
        try {
          const made = await norpay("POST", "/api/v2/payouts/create", {
            query: area.scope,
            headers: { "Idempotency-Key": idempotencyKey() },
            body: { amount, currency: v.currency, settlementAccountId: v.settlementAccountId || undefined,
              description: v.description || undefined, metadata: {} } });
          const text = `Payout ${made.payoutId} of ${minor(made.amount, made.currency)} created: ${made.status}.`;
          formOut.replaceChildren(notice(text));
          announce(text);
          form.reset();
          await load();
        } catch (err) {
          formOut.replaceChildren(notice(err.message, "error"));
        }
      });
    });

    const filter = h("form", { class: "filters", role: "search", "aria-label": "Filter payouts" },
      field({ label: "Status", name: "status", value: values.status,
        options: [["", "Any status"], ...PAYOUT_STATUSES.map((s) => [s, s.replace("_", " ")])] }),
      field({ label: "From", name: "from", type: "date", value: values.from }),
      field({ label: "To", name: "to", type: "date", value: values.to }),
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary" }, "Apply filters"),
        h("a", { href: area.link("/payouts"), "data-link": "", class: "button" }, "Clear")));
    filter.addEventListener("submit", (event) => {
      event.preventDefault();
      navigate(area.link("/payouts", formValues(filter)));
    });
    const list = h("section", { class: "card", "aria-labelledby": "payouts-title" },
      h("h2", { id: "payouts-title", tabindex: "-1" }, "Payouts"), filter, out);
    const body = h("div");
    list.append(body);
    // The merchant's own users (and its API keys) pay out; ADMIN and SUPER follow them.
    el.append(isManager(session)
      ? h("p", { class: "hint card" }, "Payouts are made by the merchant's own users or its API key, or by its payout schedule; here you follow them and can cancel a pending one.")
      : form, list);

    async function load() {
      let answer;
      try {
        answer = await norpay("GET", "/api/v2/payouts", { query: {
          ...area.scope, status: values.status, from: dayBound(values.from),
          to: dayBound(values.to, { end: true }), page, per_page: PER_PAGE } });
      } catch (err) {
        body.replaceChildren(notice(err.message, "error"));
        return null;
      }
      if (stale()) return null;
      const total = Number(answer.pagination?.total ?? answer.payouts.length);
      const filtered = FILTERS.some((k) => values[k]);
      const summary = `${total} ${total === 1 ? "payout" : "payouts"}${filtered ? (total === 1 ? " matches" : " match") : ""}`;
      const hadFocus = body.contains(document.activeElement);
      clear(body,
        h("p", { class: "count" }, summary),
        table({
          caption: "Payouts, newest first",
          empty: filtered ? "No payout matches these filters." : "No payouts yet.",
          columns: [
            { label: "Payout", class: "mono", cell: (p) => h("a", { href: area.link(`/payouts/${encodeURIComponent(p.payoutId)}`), "data-link": "" }, p.payoutId) },
            { label: "Amount", class: "num", cell: (p) => minor(p.amount, p.currency) },
            { label: "Fee", class: "num", cell: (p) => minor(p.fee, p.currency) },
            { label: "Status", cell: (p) => badge(p.status) },
            { label: "To", class: "wrap", cell: (p) => destinationText(p.destination) },
            { label: "Kind", cell: (p) => p.automatic ? "automatic" : "manual" },
            { label: "Created", cell: (p) => when(p.createdAt) },
            { label: "Actions", cell: (p) => p.status === "pending" ? cancelControl(p, { area, say, done: load }) : "—" },
          ],
          rows: answer.payouts,
        }),
        pager(page, total, PER_PAGE, (p) => area.link("/payouts", { ...values, page: p })));
      if (hadFocus) list.querySelector("h2").focus();
      return summary;
    }
    const summary = await load();
    if (summary) announce(summary);
  },
};
