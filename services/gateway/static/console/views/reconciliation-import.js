// One reconciliation import (NorPay GET /api/v2/reconciliation/imports/{id}): how many
// of its lines matched the ledger, and each exception (missing from the file, missing
// from the ledger, amount or date mismatch) with its line, references, and the file's
// and the ledger's amount and date; an exception is resolved once, with a note kept
// with who resolved it and when.

import { norpay } from "../lib/api.js";
import { badge, busy, dl, field, formValues, h, newId, notice, table } from "../lib/dom.js";
import { minor, when } from "../lib/format.js";
import { areaPage, pager } from "../lib/moneyout.js";
import { period } from "./reconciliation.js";

const KINDS = {
  missing_from_file: "missing from the file",
  missing_from_ledger: "missing from the ledger",
  amount_mismatch: "amount mismatch",
  date_mismatch: "date mismatch",
};
const PER_PAGE = 50;

// An amount over its day, as the file or the ledger has them ("—": absent there).
const side = (amount, day) => [h("span", { class: "amount" }, amount), h("span", { class: "day" }, day || "—")];

export default {
  title: (params) => `Import ${params.importId}`,
  async render(ctx) {
    const { el, params, query, navigate, announce, stale } = ctx;
    const area = await areaPage(ctx, "/payouts/reconciliation");
    if (stale()) return;
    const path = `/api/v2/reconciliation/imports/${encodeURIComponent(params.importId)}`;
    const here = `/payouts/reconciliation/${encodeURIComponent(params.importId)}`;
    const filters = { kind: query.get("kind") || "", resolved: query.get("resolved") || "" };
    const page = Math.max(1, Number(query.get("page")) || 1);
    const out = h("div", { class: "form-out", "aria-live": "polite" });
    if (query.get("again")) out.append(notice("This file was imported before: here is that import."));
    const body = h("div");
    el.append(h("p", {}, h("a", { href: area.link("/payouts/reconciliation"), "data-link": "" }, "← All imports")), out, body);

    const filter = h("form", { class: "filters inline", role: "search", "aria-label": "Filter exceptions" },
      field({ label: "Kind", name: "kind", value: filters.kind,
        options: [["", "Any kind"], ...Object.entries(KINDS)] }),
      field({ label: "Resolved", name: "resolved", value: filters.resolved,
        options: [["", "Open and resolved"], ["false", "Open only"], ["true", "Resolved only"]] }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Show exceptions")));
    filter.addEventListener("submit", (event) => {
      event.preventDefault();
      navigate(area.link(here, formValues(filter)));
    });

    async function load() {
      let imp;
      try {
        imp = await norpay("GET", path, { query: { ...area.scope, ...filters, page, per_page: PER_PAGE } });
      } catch (err) {
        body.replaceChildren(notice(err.status === 404 ? "No such import in this account and mode." : err.message, "error"));
        announce(err.message);
        return null;
      }
      if (stale()) return null;
      const s = imp.summary;
      const amount = (value, e) => (value === null || value === undefined ? "—" : minor(value, e.currency));
      const hadFocus = body.contains(document.activeElement);
      body.replaceChildren(
        h("section", { class: "card", "aria-labelledby": "import-facts-title" },
          h("h2", { id: "import-facts-title" }, "Summary"),
          dl([
            ["File", imp.filename],
            ["Source", `${imp.source} (${imp.format})`],
            ["Rail", imp.rail],
            ["Days", period(imp)],
            ["Lines", String(imp.lineCount)],
            ["Matched", `${s.matched} of ${imp.lineCount}${imp.lineCount ? ` (${Math.floor((100 * s.matched) / imp.lineCount)} %)` : ""}`],
            ["Exceptions", s.exceptions ? `${s.exceptions}: ${s.missingFromFile} missing from the file, ${s.missingFromLedger} missing from the ledger, ${s.amountMismatch} amount and ${s.dateMismatch} date mismatches; ${s.unresolved} open` : "none"],
            ["File totals", (imp.totals || []).map((t) => `${t.currency}: ${minor(t.credits, t.currency)} in, ${minor(t.debits, t.currency)} out`).join("; ")],
            ["Mode", badge(imp.livemode ? "live" : "test")],
            ["Imported", `${when(imp.createdAt)} by ${imp.createdBy}`],
          ])),
        h("section", { class: "card", "aria-labelledby": "exceptions-title" },
          h("h2", { id: "exceptions-title", tabindex: "-1" }, "Exceptions"),
          filter,
          table({
            caption: "Exceptions, by line of the file",
            empty: filters.kind || filters.resolved ? "No exception matches these filters."
              : "No exceptions: every line matched the ledger, and the ledger has nothing the file lacks.",
            columns: [
              { label: "Line", class: "num", cell: (e) => e.line === null ? "—" : String(e.line) },
              { label: "Kind", cell: (e) => KINDS[e.kind] || e.kind },
              { label: "Movement", class: "wrap", cell: (e) => [e.description || "—",
                h("span", { class: "refs mono" }, e.references.join(" · "))] },
              { label: "In the file", class: "num", cell: (e) => side(amount(e.fileAmount, e), e.fileDate) },
              { label: "In the ledger", class: "num", cell: (e) => side(amount(e.ledgerAmount, e), e.ledgerDate) },
              { label: "Resolution", class: "wrap", cell: (e) => e.resolution
                ? h("span", {}, badge("resolved"), ` ${e.resolution.note}`,
                  h("span", { class: "hint" }, ` (${e.resolution.resolvedBy}, ${when(e.resolution.resolvedAt)})`))
                : resolveForm(e) },
            ],
            rows: imp.exceptions,
          }),
          pager(page, imp.pagination.total, PER_PAGE, (p) => area.link(here, { ...filters, page: p }))));
      if (hadFocus) body.querySelector("#exceptions-title").focus();
      return imp;
    }

    const name = (e) => (e.line === null ? `of ${e.references[0] || e.exceptionId}` : `of line ${e.line}`);

    function resolveForm(e) {
      const id = newId("note");
      const form = h("form", { class: "resolve", "aria-label": `Resolve the exception ${name(e)}` },
        h("label", { for: id }, "Note"),
        h("input", { id, name: "note", required: true, maxlength: 1000, placeholder: "Why it is settled" }),
        h("button", { type: "submit", "aria-label": `Resolve the exception ${name(e)}` }, "Resolve"));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const note = form.elements.note.value.trim();
        if (!note) {
          out.replaceChildren(notice("Note: say why the exception is settled", "error"));
          form.elements.note.focus();
          return;
        }
        await busy(form.querySelector("button"), async () => {
          try {
            await norpay("POST", `${path}/exceptions/${encodeURIComponent(e.exceptionId)}/resolve`,
              { query: area.scope, body: { note } });
            const text = `The exception ${name(e)} is resolved.`;
            out.replaceChildren(notice(text));
            announce(text);
            await load();
          } catch (err) {
            out.replaceChildren(notice(err.message, "error"));
          }
        });
      });
      return form;
    }

    const imp = await load();
    if (imp) announce(`Import ${imp.importId}: ${imp.summary.matched} of ${imp.lineCount} lines matched, ${imp.summary.exceptions} exceptions`);
  },
};
