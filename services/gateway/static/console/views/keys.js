// API keys (NORAH /api/v1/api-keys): create (the key is shown once), list, revoke.
// A key acts in test or live mode (docs/modes.md); the form starts on the console's.

import { getMode, norah } from "../lib/api.js";
import { badge, busy, button, field, formValues, h, notice, table } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { merchantField, merchantIdOf } from "../lib/merchants.js";

export default {
  title: "API keys",
  async render({ el, session, announce, stale }) {
    const created = h("div", { class: "form-out" });
    const form = h("form", { class: "card", "aria-labelledby": "new-key-title" },
      h("h2", { id: "new-key-title" }, "Create a key"),
      await merchantField(session),
      field({ label: "Name", name: "name", maxlength: 100, hint: "What the key is for, e.g. “web shop server”" }),
      field({
        label: "Mode", name: "mode", value: getMode(),
        options: [["test", "Test (nk_test_…, test data only)"], ["live", "Live (nk_live_…, real money)"]],
        hint: "A merchant still in DEVELOPMENT gets test keys only: activate it first.",
      }),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create key")),
      created);
    const list = h("section", { class: "card", "aria-labelledby": "keys-title" },
      h("h2", { id: "keys-title", tabindex: "-1" }, "Your keys"));
    const listBody = h("div");
    const out = h("div", { class: "form-out", "aria-live": "polite" });
    list.append(out, listBody);
    if (stale()) return;
    el.append(form, list);

    async function load() {
      try {
        const { data } = await norah("GET", "/api/v1/api-keys", { query: { per_page: 100 } });
        const hadFocus = listBody.contains(document.activeElement);
        listBody.replaceChildren(table({
          caption: "API keys (secret keys show only their first characters)",
          empty: "No API keys yet.",
          columns: [
            { label: "Name", cell: (k) => k.name || "—" },
            { label: "Key", class: "mono", cell: (k) => k.type === "publishable" ? k.key : `${k.prefix}…` },
            { label: "Mode", cell: (k) => badge(k.mode) },
            { label: "Merchant", cell: (k) => String(k.merchantId) },
            { label: "Created", cell: (k) => when(k.createdAt) },
            { label: "Last used", cell: (k) => when(k.lastUsedAt) },
            { label: "Status", cell: (k) => badge(k.revokedAt ? "revoked" : "active") },
            { label: "Actions", cell: (k) => k.revokedAt ? "—" : revokeControl(k) },
          ],
          rows: data,
        }));
        if (hadFocus) list.querySelector("h2").focus();
        return data;
      } catch (err) {
        listBody.replaceChildren(notice(err.message, "error"));
        return [];
      }
    }

    function revokeControl(k) {
      const name = k.name || k.prefix;
      const wrap = h("span", { class: "confirm" });
      const ask = button("Revoke", () => {
        wrap.replaceChildren(
          h("span", { class: "confirm-text" }, `Revoke ${name}? Calls with it stop working.`),
          button("Yes, revoke", async (event) => {
            await busy(event.currentTarget, async () => {
              try {
                await norah("DELETE", `/api/v1/api-keys/${encodeURIComponent(k.keyId)}`);
                out.replaceChildren(notice(`Key ${name} revoked.`));
                announce(`Key ${name} revoked`);
                await load();
              } catch (err) {
                out.replaceChildren(notice(err.message, "error"));
              }
            });
          }, { class: "danger" }),
          button("Keep it", () => { wrap.replaceChildren(ask); ask.focus(); }));
        wrap.querySelector("button").focus();
      }, { class: "danger", "aria-label": `Revoke key ${name}` });
      wrap.append(ask);
      return wrap;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = formValues(form);
      const submit = form.querySelector("button[type=submit]");
      await busy(submit, async () => {
        try {
          const { data } = await norah("POST", "/api/v1/api-keys",
            { body: { name: values.name || undefined, merchantId: merchantIdOf(values), mode: values.mode } });
          const keyId = `key-${data.keyId}`;
          created.replaceChildren(h("div", { class: "secret", role: "status" },
            h("p", {}, h("strong", {}, "Copy this key now: it is not shown again.")),
            h("label", { for: keyId }, `New ${data.mode} key ${data.name || ""}`.trim()),
            h("input", { id: keyId, class: "mono", readonly: true, value: data.key, "data-secret": "" }),
            button("Copy", async () => {
              try {
                await navigator.clipboard.writeText(data.key);
                announce("Key copied");
              } catch {
                document.getElementById(keyId).select();
                announce("Select the key and copy it");
              }
            })));
          form.reset();
          announce(`${data.mode === "live" ? "Live" : "Test"} key created. Copy it now: it is not shown again.`);
          document.getElementById(keyId).focus();
          await load();
        } catch (err) {
          created.replaceChildren(notice(err.message, "error"));
        }
      });
    });
    await load();
  },
};
