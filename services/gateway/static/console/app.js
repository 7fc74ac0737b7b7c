// The console's shell: routes (History API under /console/), the navigation, the
// signed-in user, the test/live switch, focus and announcements on every page change.

import { getMode, getSession, isManager, setMode, signOut } from "./lib/api.js";
import { button, clear, h, notice } from "./lib/dom.js";
import signin from "./views/signin.js";
import payments from "./views/payments.js";
import payment from "./views/payment.js";
import dashboard from "./views/dashboard.js";
import billing from "./views/billing.js";
import webhooks from "./views/webhooks.js";
import keys from "./views/keys.js";
import charges from "./views/charges.js";
import merchants from "./views/merchants.js";
import balance from "./views/balance.js";
import payouts from "./views/payouts.js";
import payout from "./views/payout.js";
import settlement from "./views/settlement.js";
import schedule from "./views/schedule.js";
import reconciliation from "./views/reconciliation.js";
import reconciliationImport from "./views/reconciliation-import.js";
import confirmEmail from "./views/confirm-email.js";
import acceptInvitation from "./views/accept-invitation.js";
import newMerchant from "./views/new-merchant.js";

const BASE = "/console";
const ROUTES = [
  [/^\/sign-in\/?$/, signin],
  // Opened from the e-mails, signed out (views with `public: true`).
  [/^\/confirm-email\/?$/, confirmEmail],
  [/^\/accept-invitation\/?$/, acceptInvitation],
  [/^\/?$/, payments],
  [/^\/payments\/?$/, payments],
  [/^\/payments\/([^/]+)\/?$/, payment, ["paymentId"]],
  [/^\/dashboard\/?$/, dashboard],
  [/^\/billing\/?$/, billing],
  [/^\/webhooks\/?$/, webhooks],
  [/^\/keys\/?$/, keys],
  [/^\/charges\/?$/, charges],
  [/^\/merchants\/?$/, merchants],
  [/^\/merchants\/new\/?$/, newMerchant],
  // Money out: the fixed pages first, then a payout by its id.
  [/^\/payouts\/?$/, payouts],
  [/^\/payouts\/balance\/?$/, balance],
  [/^\/payouts\/accounts\/?$/, settlement],
  [/^\/payouts\/schedule\/?$/, schedule],
  [/^\/payouts\/reconciliation\/?$/, reconciliation],
  [/^\/payouts\/reconciliation\/([^/]+)\/?$/, reconciliationImport, ["importId"]],
  [/^\/payouts\/([^/]+)\/?$/, payout, ["payoutId"]],
];

const main = document.getElementById("main");
const live = document.getElementById("live");
const nav = document.getElementById("nav");
const toggle = document.getElementById("menu-toggle");
const modeSwitch = document.getElementById("mode-switch");
const modeBanner = document.getElementById("mode-banner");
let flash = null;
let current = 0;

export function announce(text) {
  live.textContent = "";
  // A fresh text node after a tick is read out even when the words repeat.
  setTimeout(() => { live.textContent = text; }, 50);
}

export function navigate(path, { replace = false } = {}) {
  const url = path.startsWith(BASE) ? path : BASE + path;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

function match(pathname) {
  const rest = pathname.slice(BASE.length) || "/";
  for (const [re, view, names = []] of ROUTES) {
    const m = re.exec(rest);
    if (m) return { view, params: Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1])])) };
  }
  return null;
}

function renderChrome(session) {
  const who = document.getElementById("who");
  nav.hidden = !session;
  toggle.hidden = !session;
  const mode = getMode();
  modeSwitch.hidden = !session;
  modeSwitch.setAttribute("aria-checked", String(mode === "live"));
  modeBanner.hidden = !session || mode === "live";
  document.body.classList.toggle("test-mode", !!session && mode === "test");
  for (const li of nav.querySelectorAll("[data-role=manager]")) li.hidden = !isManager(session);
  if (!session) {
    clear(who);
    return;
  }
  clear(who,
    h("span", { class: "who-name" }, session.fullName || session.email,
      h("span", { class: "who-role" }, ` (${session.role})`)),
    button("Sign out", async () => {
      await signOut();
      flash = "You are signed out.";
      navigate("/sign-in");
    }, { class: "link-button" }));
  for (const a of nav.querySelectorAll("a")) {
    // data-area: the entry of a group of pages (money out) is current on all of them.
    const area = a.dataset.area;
    const active = location.pathname === a.pathname
      || (area && (location.pathname === area || location.pathname.startsWith(`${area}/`)))
      || (a.pathname === "/console/payments" && /^\/console\/?$|^\/console\/payments/.test(location.pathname));
    if (active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

// keepFocus: the test/live switch re-renders the page under the user's hands; the
// focus stays on the switch instead of jumping to the heading.
async function route({ keepFocus = false } = {}) {
  const token = ++current;
  const session = getSession();
  let found = match(location.pathname);
  if (!session && (!found || !(found.view === signin || found.view.public))) {
    history.replaceState(null, "", `${BASE}/sign-in`);
    found = match(`${BASE}/sign-in`);
  } else if (session && found && found.view === signin) {
    history.replaceState(null, "", `${BASE}/payments`);
    found = match(`${BASE}/payments`);
  }
  renderChrome(session);
  nav.classList.remove("open");
  toggle.setAttribute("aria-expanded", "false");
  const heading = h("h1", { tabindex: "-1" });
  const body = h("div", { class: "view" });
  clear(main, heading, body);
  if (!found || (found.view.managerOnly && !isManager(session))) {
    heading.textContent = "Page not found";
    body.append(h("p", {}, "There is no such page in the console. ",
      h("a", { href: `${BASE}/payments`, "data-link": "" }, "Go to payments")));
    document.title = "Not found · norgate console";
    heading.focus();
    return;
  }
  const { view, params } = found;
  const title = typeof view.title === "function" ? view.title(params) : view.title;
  heading.textContent = title;
  document.title = `${title} · norgate console`;
  if (flash) {
    body.append(notice(flash));
    flash = null;
  }
  if (!keepFocus) heading.focus();
  main.setAttribute("aria-busy", "true");
  try {
    await view.render({
      el: body, params, session, navigate, announce,
      query: new URLSearchParams(location.search),
      stale: () => token !== current,
    });
  } catch (err) {
    if (token === current) body.append(notice(`Could not load this page: ${err.message}`, "error"));
  } finally {
    if (token === current) main.removeAttribute("aria-busy");
  }
}

document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-link]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey
      || event.shiftKey || event.altKey || a.origin !== location.origin) return;
  event.preventDefault();
  navigate(a.pathname + a.search);
});

toggle.addEventListener("click", () => {
  const open = !nav.classList.contains("open");
  nav.classList.toggle("open", open);
  toggle.setAttribute("aria-expanded", String(open));
});

// Test or live: the same page again, its data fetched in the other mode.
modeSwitch.addEventListener("click", () => {
  const mode = getMode() === "live" ? "test" : "live";
  setMode(mode);
  announce(mode === "live" ? "Live mode: live data" : "Test mode: test data");
  route({ keepFocus: true });
});

window.addEventListener("popstate", () => route());
window.addEventListener("session-expired", () => {
  if (match(location.pathname)?.view === signin) return;
  flash = "Your session has ended. Sign in again.";
  navigate("/sign-in", { replace: true });
});

route();
