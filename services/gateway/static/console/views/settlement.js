// A merchant's settlement accounts (NORAH /api/v1/admin/merchants/{id}/settlement-
// accounts): where payouts go. A BANK account (bank, branch code, account name and
// number) or a mobile wallet (ECOCASH, OMARI, INNBUCKS: a 263... phone); one default per
// currency. Numbers come back masked (the last four) and are shown as the API gives them.

import { norah } from "../lib/api.js";
import { badge, busy, button, field, formValues, h, notice, showField, table } from "../lib/dom.js";
import { CURRENCIES, when } from "../lib/format.js";
import { ACCOUNT_TYPES, areaPage } from "../lib/moneyout.js";

const BANK_FIELDS = ["bankName", "branchCode", "accountNumber"];

export default {
  title: "Settlement accounts",
  async render(ctx) {
    const { el, announce, stale } = ctx;
    const area = await areaPage(ctx, "/payouts/accounts");
    if (stale()) return;
    if (area.none || !area.merchantId) {
      el.append(h("p", { class: "empty" }, "No merchant yet."));
      return;
    }
    const base = `/api/v1/admin/merchants/${encodeURIComponent(area.merchantId)}/settlement-accounts`;
    const out = h("div", { class: "form-out", "aria-live": "polite" });
    const say = (text, kind) => {
      out.replaceChildren(notice(text, kind));
      if (kind !== "error") announce(text);
    };

    const bank = [
      field({ label: "Bank name", name: "bankName", maxlength: 100, autocomplete: "off" }),
      field({ label: "Branch code", name: "branchCode", maxlength: 20, autocomplete: "off" }),
      field({ label: "Account number", name: "accountNumber", inputmode: "numeric", autocomplete: "off",
        hint: "Test mode: a number ending 0001 fails (“Account closed”), ending 0002 is returned after being paid" }),
    ];
    const wallet = [
      field({ label: "Phone number", name: "phoneNumber", type: "tel", inputmode: "numeric", autocomplete: "off",
        placeholder: "263771234567", hint: "The wallet's number in international form, 263…; in test mode one ending 0001 fails" }),
    ];
    const typeField = field({ label: "Type", name: "type", options: ACCOUNT_TYPES.map((t) => [t, t === "BANK" ? "BANK (bank account over ZIMSWITCH)" : `${t} (mobile wallet)`]) });
    const formOut = h("div", { class: "form-out", "aria-live": "polite" });
    const form = h("form", { class: "card", "aria-labelledby": "new-account-title" },
      h("h2", { id: "new-account-title" }, "Add a settlement account"),
      h("div", { class: "grid-2" },
        typeField,
        field({ label: "Currency", name: "currency", options: CURRENCIES.map((c) => [c, c]), value: "USD" }),
        field({ label: "Account name", name: "accountName", maxlength: 100, autocomplete: "off",
          hint: "The name the account or wallet is held in" }),
        bank, wallet,
        h("div", { class: "field checkbox" },
          h("label", {}, h("input", { type: "checkbox", name: "isDefault", value: "true" }),
            " The default account for this currency"))),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add account")),
      formOut);
    // Only the chosen type's fields show, and only they are sent (a disabled control
    // is left out of the form's data).
    const showType = () => {
      const isBank = form.elements.type.value === "BANK";
      for (const f of bank) showField(f, isBank);
      for (const f of wallet) showField(f, !isBank);
    };
    form.elements.type.addEventListener("change", showType);
    showType();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = formValues(form);
      const body = { type: v.type, currency: v.currency, accountName: v.accountName || undefined,
        isDefault: v.isDefault === "true" ? true : undefined }; // unticked: the API's rule (the first of a currency is its default)
      if (v.type === "BANK") {
        for (const k of BANK_FIELDS) body[k] = v[k] || undefined;
      } else {
        body.phoneNumber = v.phoneNumber || undefined;
      }
      await busy(form.querySelector("button[type=submit]"), async () => {
        try {
          const { data } = await norah("POST", base, { body });
          const text = `Account ${data.accountNumber || data.phoneNumber} (${data.type}, ${data.currency}) added${data.isDefault ? " as the default" : ""}.`;
          formOut.replaceChildren(notice(text));
          announce(text);
          form.reset();
          showType();
          await load();
        } catch (err) {
          formOut.replaceChildren(notice(err.message, "error"));
        }
      });
    });

    const list = h("section", { class: "card", "aria-labelledby": "accounts-title" },
      h("h2", { id: "accounts-title", tabindex: "-1" }, "Accounts"), out);
    const body = h("div");
    list.append(body);
    el.append(list, form);

    async function load() {
      let data;
      try {
        ({ data } = await norah("GET", base, { query: { per_page: 100 } }));
      } catch (err) {
        body.replaceChildren(notice(err.message, "error"));
        return null;
      }
      if (stale()) return null;
      const hadFocus = body.contains(document.activeElement);
      body.replaceChildren(table({
        caption: "Settlement accounts (numbers masked: the last four digits)",
        empty: "No settlement account yet: add one below to be paid out.",
        columns: [
          { label: "Type", cell: (a) => a.type },
          { label: "Currency", cell: (a) => a.currency },
          { label: "Number", class: "mono", cell: (a) => a.accountNumber || a.phoneNumber || `****${a.last4}` },
          { label: "Account name", cell: (a) => a.accountName || "—" },
          { label: "Bank", cell: (a) => a.type === "BANK" ? `${a.bankName || "—"}${a.branchCode ? ` (branch ${a.branchCode})` : ""}` : "—" },
          { label: "Default", cell: (a) => a.isDefault ? badge("default") : button("Make default", (event) => makeDefault(event.currentTarget, a),
            { "aria-label": `Make ${label(a)} the default ${a.currency} account` }) },
          { label: "Added", cell: (a) => when(a.createdAt) },
          { label: "Actions", cell: (a) => deleteControl(a) },
        ],
        rows: data,
      }));
      if (hadFocus) list.querySelector("h2").focus();
      return data;
    }

    async function makeDefault(btn, a) {
      await busy(btn, async () => {
        try {
          // PUT replaces the whole account; the number left out is kept as stored.
          const body = { type: a.type, currency: a.currency, accountName: a.accountName || undefined, isDefault: true };
          if (a.type === "BANK") Object.assign(body, { bankName: a.bankName, branchCode: a.branchCode });
          await norah("PUT", `${base}/${encodeURIComponent(a.settlementAccountId)}`, { body });
          say(`${label(a)} is now the default ${a.currency} account.`);
          await load();
        } catch (err) {
          say(err.message, "error");
        }
      });
    }

    function deleteControl(a) {
      const wrap = h("span", { class: "confirm" });
      const ask = button("Delete", () => {
        wrap.replaceChildren(
          h("span", { class: "confirm-text" }, `Delete ${label(a)}? Payouts no longer go there.`),
          button("Yes, delete", async (event) => {
            await busy(event.currentTarget, async () => {
              try {
                await norah("DELETE", `${base}/${encodeURIComponent(a.settlementAccountId)}`);
                say(`${label(a)} deleted.`);
                await load();
              } catch (err) {
                say(err.message, "error");
              }
            });
          }, { class: "danger" }),
          button("Keep it", () => { wrap.replaceChildren(ask); ask.focus(); }));
        wrap.querySelector("button").focus();
      }, { class: "danger", "aria-label": `Delete ${label(a)}` });
      wrap.append(ask);
      return wrap;
    }

    const data = await load();
    if (data) announce(`${data.length} settlement ${data.length === 1 ? "account" : "accounts"}`);
  },
};

const label = (a) => `${a.type} account ${a.accountNumber || a.phoneNumber || `****${a.last4}`}`;
