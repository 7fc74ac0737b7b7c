// Reconciliation (NorPay /api/v2/reconciliation): the imported settlement files and bank
// statements with how much of each matched the ledger, an upload (multipart: file,
// source processor | bank, format sandbox | csv | camt053, rail), and in test mode the
// sandbox rails' files of a day (a rail's settlement file, the sandbox bank's camt.053)
// to download and import back.

import { download, getMode, idempotencyKey, norpay, request } from "../lib/api.js";
import { append, busy, field, formValues, h, notice, table } from "../lib/dom.js";
import { when } from "../lib/format.js";
import { PAYOUT_RAILS, RAILS, areaPage, pager } from "../lib/moneyout.js";

const SOURCES = [["processor", "Processor (a rail's settlement file)"], ["bank", "Bank (a statement)"]];
const FORMAT_NAMES = { sandbox: "Sandbox rail file", csv: "CSV", camt053: "ISO 20022 camt.053 (XML)" };
// What each source's files may be, and the rails they may be of (the API's own rules:
// a bank statement is of the payouts, over a payout rail, ZIMSWITCH unless said).
const FORMATS_OF = { processor: ["sandbox", "csv"], bank: ["camt053", "csv"] };
const RAILS_OF = { processor: RAILS, bank: PAYOUT_RAILS };
const PER_PAGE = 20;

const today = () => new Date().toISOString().slice(0, 10);

function setOptions(select, values, label = (v) => v) {
  const keep = select.value;
  select.replaceChildren(...values.map((v) => h("option", { value: v }, label(v))));
  if (values.includes(keep)) select.value = keep;
}

export default {
  title: "Reconciliation",
  async render(ctx) {
    const { el, query, navigate, announce, stale } = ctx;
    const area = await areaPage(ctx, "/payouts/reconciliation");
    if (stale()) return;
    if (area.none) {
      el.append(h("p", { class: "empty" }, "No merchant yet."));
      return;
    }
    const page = Math.max(1, Number(query.get("page")) || 1);

    const formOut = h("div", { class: "form-out", "aria-live": "polite" });
    const upload = h("form", { class: "card", "aria-labelledby": "upload-title" },
      h("h2", { id: "upload-title" }, "Import a file"),
      h("p", { class: "hint" }, "Its lines are matched to the ledger: payments by trace or rail reference, payouts by the payout id in the remittance information, and fees. The same file imported twice is the same import."),
      h("div", { class: "grid-2" },
        field({ label: "File", name: "file", type: "file", required: true, accept: ".csv,.xml,.txt,text/csv,application/xml,text/xml" }),
        field({ label: "Source", name: "source", options: SOURCES }),
        field({ label: "Format", name: "format", options: [] }),
        field({ label: "Rail", name: "rail", options: [] })),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Import")),
      formOut);
    const fitSource = () => {
      const source = upload.elements.source.value;
      setOptions(upload.elements.format, FORMATS_OF[source], (f) => FORMAT_NAMES[f]);
      setOptions(upload.elements.rail, RAILS_OF[source]);
    };
    upload.elements.source.addEventListener("change", fitSource);
    fitSource();
    upload.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!upload.elements.file.files.length) {
        formOut.replaceChildren(notice("File: choose the file to import", "error"));
        upload.elements.file.focus();
        return;
      }
      const data = new FormData(upload);
      await busy(upload.querySelector("button[type=submit]"), async () => {
        try {
          const resp = await request("POST", "/api/v2/reconciliation/imports",
            { form: data, query: area.scope, headers: { "Idempotency-Key": idempotencyKey() }, raw: true });
          const made = (await resp.json()).result;
          // 200, not 201: this very file was imported before; that import is shown.
          const again = resp.status === 200 ? { again: "1" } : {};
          navigate(area.link(`/payouts/reconciliation/${encodeURIComponent(made.importId)}`, again));
        } catch (err) {
          formOut.replaceChildren(notice(err.message, "error"));
        }
      });
    });

    const list = h("section", { class: "card", "aria-labelledby": "imports-title" },
      h("h2", { id: "imports-title" }, "Imports"));
    const body = h("div");
    list.append(body);
    el.append(list, upload);
    if (getMode() === "test") el.append(sandboxFiles(area, announce));

    let answer;
    try {
      answer = await norpay("GET", "/api/v2/reconciliation/imports", { query: { ...area.scope, page, per_page: PER_PAGE } });
    } catch (err) {
      body.append(notice(err.message, "error"));
      return;
    }
    if (stale()) return;
    const total = Number(answer.pagination?.total ?? answer.imports.length);
    append(body, [
      h("p", { class: "count" }, `${total} ${total === 1 ? "import" : "imports"}`),
      table({
        caption: "Imports, newest first",
        empty: "No file imported yet.",
        columns: [
          { label: "Import", class: "mono", cell: (i) => h("a", { href: area.link(`/payouts/reconciliation/${encodeURIComponent(i.importId)}`), "data-link": "" }, i.importId) },
          { label: "File", cell: (i) => i.filename || "—" },
          { label: "Source", cell: (i) => `${i.source}, ${i.format}` },
          { label: "Rail", cell: (i) => i.rail || "—" },
          { label: "Days", cell: (i) => period(i) },
          { label: "Lines", class: "num", cell: (i) => String(i.lineCount) },
          { label: "Matched", class: "num", cell: (i) => String(i.summary.matched) },
          { label: "Exceptions", class: "num", cell: (i) => `${i.summary.exceptions}${i.summary.unresolved ? ` (${i.summary.unresolved} open)` : ""}` },
          { label: "Imported", cell: (i) => when(i.createdAt) },
        ],
        rows: answer.imports,
      }),
      pager(page, total, PER_PAGE, (p) => area.link("/payouts/reconciliation", { page: p }))]);
    announce(`${total} ${total === 1 ? "import" : "imports"}`);
  },
};

export const period = (i) => (i.periodStart === i.periodEnd ? i.periodStart : `${i.periodStart} to ${i.periodEnd}`);

// Test mode: what the sandbox wrote for a day (GET .../sandbox-files), saved as a file
// to import above as it is, or edited first to see its exceptions.
function sandboxFiles(area, announce) {
  const out = h("div", { class: "form-out", "aria-live": "polite" });
  const form = h("form", { class: "card", "aria-labelledby": "sandbox-title" },
    h("h2", { id: "sandbox-title" }, "Sandbox files"),
    h("p", { class: "hint" }, "Test mode: each sandbox rail writes the day's settlement file of your payments and payouts, and the sandbox bank a camt.053 statement of the payouts it paid."),
    h("div", { class: "filters inline" },
      field({ label: "Sandbox file", name: "kind",
        options: [["settlement", "A rail's settlement file (CSV)"], ["bank_statement", "The bank statement (camt.053)"]] }),
      field({ label: "Sandbox rail", name: "rail", options: RAILS.map((r) => [r, r]) }),
      field({ label: "Day", name: "date", type: "date", value: today(), required: true }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Download"))),
    out);
  form.elements.kind.addEventListener("change", () => {
    setOptions(form.elements.rail, form.elements.kind.value === "settlement" ? RAILS : PAYOUT_RAILS);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = formValues(form);
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        const name = await download("/api/v2/reconciliation/sandbox-files", {
          query: { ...area.scope, kind: v.kind, rail: v.rail, date: v.date },
          filename: v.kind === "settlement" ? `settlement-${v.rail}-${v.date}.csv` : `statement-${v.date}.xml`,
        });
        out.replaceChildren(notice(`Downloaded ${name}.`));
        announce(`Downloaded ${name}`);
      } catch (err) {
        out.replaceChildren(notice(err.message, "error"));
      }
    });
  });
  return form;
}
