// A new ADMIN's first steps on the dashboard: create a merchant, activate it, make an
// API key, make a test payment, add a webhook endpoint. Each is ticked from what the
// APIs answer (nothing is stored for it) and links to where it is done. The list goes
// once all five are done, or when the user hides it (remembered in this browser).
//
// Only for ADMIN: a MERCHANT user cannot create or activate merchants, and SUPER runs
// the platform rather than a shop of its own.

import { getSession, norah, norpay } from "../lib/api.js";
import { button, h } from "../lib/dom.js";

const HIDDEN_KEY = (userId) => `norgate.console.first-steps.hidden.${userId}`;

async function facts() {
  const [merchants, keys, payments, endpoints] = await Promise.allSettled([
    norah("GET", "/api/v1/admin/merchants", { query: { per_page: 100 } }),
    norah("GET", "/api/v1/api-keys", { query: { per_page: 100 } }),
    norah("GET", "/api/v1/transactions/all", { query: { per_page: 1 } }),
    norpay("GET", "/api/v2/webhooks/endpoints", { query: { per_page: 1 } }),
  ]);
  // A read that failed counts as not done: the step stays offered.
  const list = (r, pick) => (r.status === "fulfilled" ? pick(r.value) || [] : []);
  const m = list(merchants, (v) => v.data);
  return [
    m.length > 0,
    m.some((x) => x.status === "ACTIVE"),
    list(keys, (v) => v.data).some((k) => !k.revokedAt),
    list(payments, (v) => v.data).length > 0,
    list(endpoints, (v) => v.endpoints).length > 0,
  ];
}

const STEPS = [
  { text: "Create a merchant", href: "/console/merchants/new",
    hint: "The shop that takes payments; it starts in DEVELOPMENT, and its login gets an invitation e-mail." },
  { text: "Activate it", href: "/console/merchants",
    hint: "“Activate” on the Merchants page lets it take live payments later." },
  { text: "Make an API key", href: "/console/keys",
    hint: "A test key (nk_test_…) for your shop's server." },
  { text: "Make a test payment", href: "/docs", external: true,
    hint: "With the test key: POST /api/v2/payments/create, then pay on its checkout page with card 4242 4242 4242 4242 (the API docs show the calls)." },
  { text: "Add a webhook endpoint", href: "/console/webhooks",
    hint: "Where norgate tells your shop that a payment completed." },
];

// Puts the list at the top of `el` at once (hidden until the reads answer), so the
// page's own content can be appended after it meanwhile.
export async function firstSteps(el) {
  const session = getSession();
  const section = h("section", { class: "card first-steps", "aria-labelledby": "first-steps-title", hidden: true });
  el.prepend(section);
  if (!session || session.role !== "ADMIN") return section.remove();
  const key = HIDDEN_KEY(session.userId ?? session.email);
  if (localStorage.getItem(key)) return section.remove();
  const done = await facts();
  const count = done.filter(Boolean).length;
  if (count === STEPS.length) return section.remove();
  section.append(
    h("div", { class: "first-steps-head" },
      h("h2", { id: "first-steps-title" }, "First steps"),
      h("p", { class: "first-steps-count" }, `${count} of ${STEPS.length} done`),
      button("Hide these steps", () => {
        localStorage.setItem(key, "1");
        section.remove();
        el.closest("main")?.querySelector("h1")?.focus();
      }, { class: "link-button" })),
    h("ol", { class: "first-steps-list" }, STEPS.map((step, i) => h("li", { class: done[i] ? "done" : "todo" },
      h("span", { class: "first-steps-mark", "aria-hidden": "true" }, done[i] ? "✓" : String(i + 1)),
      h("div", {},
        h("span", { class: "sr-only" }, done[i] ? "Done: " : "To do: "),
        h("a", { href: step.href, "data-link": step.external ? undefined : "" }, step.text),
        h("p", { class: "hint" }, step.hint))))));
  section.hidden = false;
}
