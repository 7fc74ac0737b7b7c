// Calls to the gateway's APIs with the signed-in user's access token.
//
// The session (access token, refresh token, who) lives in sessionStorage: it ends with
// the tab, and no cookie is ever set, so other sites cannot make requests with it.
// A 401 on an expired access token refreshes it once (refresh tokens rotate) and
// retries; when the refresh fails too, the session is cleared and the app shows the
// sign-in page ("session-expired" event).
//
// Test or live mode (docs/modes.md): the console's switch is kept in the session (so a
// new sign-in starts in test mode) and every call says it in X-Norgate-Mode.

const KEY = "norgate.console.session";
export const MODES = ["test", "live"];

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export function getSession() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
  } catch {
    return {};
  }
}

export function saveSession(answer) {
  const c = claims(answer.token);
  const session = {
    token: answer.token, refreshToken: answer.refreshToken,
    role: answer.role, fullName: answer.fullName, email: answer.email,
    userId: answer.user_id, merchantId: c.mid || null, companyId: c.cid || null,
    mode: getMode(), // a refresh keeps the switch where it was
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

// "test" unless the signed-in user switched to live.
export function getMode() {
  const session = getSession();
  return session && session.mode === "live" ? "live" : "test";
}

export function setMode(mode) {
  const session = getSession();
  if (!session || !MODES.includes(mode)) return;
  sessionStorage.setItem(KEY, JSON.stringify({ ...session, mode }));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

// Numbers keep their exact text when a float could not hold them (NORAH amounts such as
// 975.00 or NOR's 18 decimals): they arrive here as strings.
function parse(text) {
  if (!text) return null;
  return JSON.parse(text, (key, value, context) => {
    if (typeof value === "number" && context && typeof context.source === "string") {
      const src = context.source;
      if (/[.eE]/.test(src) || src.replace("-", "").length > 15) return src;
    }
    return value;
  });
}

function errorOf(resp, body) {
  const code = resp.headers.get("X-Error-Code") || (body && body.error && body.error.code) || `http_${resp.status}`;
  let message = (body && body.error && body.error.message) || (body && body.message) || resp.statusText;
  message = String(message).replace(/^Error! /, "");
  const field = body && body.error ? body.error.field : undefined;
  return new ApiError(resp.status, code, message, field);
}

let refreshing = null;

async function refresh() {
  const session = getSession();
  if (!session || !session.refreshToken) return false;
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const answer = await request("POST", "/api/v1/auth/refresh",
          { body: { refreshToken: session.refreshToken }, auth: false });
        saveSession(answer);
        return true;
      } catch {
        return false;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

function expired() {
  clearSession();
  window.dispatchEvent(new CustomEvent("session-expired"));
}

// `form`: a FormData sent as multipart (the browser sets its boundary); `headers`:
// extra request headers (Idempotency-Key).
export async function request(method, path, { body, form, query, headers: extra, auth = true, retry = true, raw = false } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const session = getSession();
  const headers = { Accept: "application/json", ...extra, "X-Norgate-Mode": getMode() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth) {
    if (!session) {
      expired();
      throw new ApiError(401, "unauthenticated", "Sign in first");
    }
    headers.Authorization = `Bearer ${session.token}`;
  }
  const resp = await fetch(url, {
    method, headers, body: form ?? (body === undefined ? undefined : JSON.stringify(body)),
    credentials: "omit", cache: "no-store",
  });
  if (resp.status === 401 && auth) {
    if (retry && await refresh()) return request(method, path, { body, form, query, headers: extra, auth, retry: false, raw });
    expired();
  }
  if (raw && resp.ok) return resp;
  const data = parse(await resp.text());
  if (!resp.ok) throw errorOf(resp, data);
  return data;
}

// NORAH (/api/v1): {data, pagination}
export async function norah(method, path, opts) {
  const env = await request(method, path, opts);
  return { data: env.data, pagination: env.pagination, message: env.message };
}

// NorPay (/api/v2): the envelope's result
export async function norpay(method, path, opts) {
  const env = await request(method, path, opts);
  return env.result;
}

// A fresh Idempotency-Key for one submit of a form: a retried submit of the same
// request (a double click, a lost answer) gets the first answer back at the gateway.
// getRandomValues works outside secure contexts too (randomUUID does not).
export function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// A file the API answers (a CSV): fetched with the session's token, handed to the
// browser as a download (an <a download> on a blob: URL, which the CSP allows).
export async function download(path, { query, filename } = {}) {
  const resp = await request("GET", path, { query, raw: true, headers: { Accept: "text/csv, */*" } });
  const disposition = resp.headers.get("Content-Disposition") || "";
  const named = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = named ? decodeURIComponent(named[1]) : filename || "download";
  const url = URL.createObjectURL(await resp.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}

export async function signIn(email, password) {
  return saveSession(await request("POST", "/api/v1/auth/sign-in",
    { body: { email, password }, auth: false }));
}

export async function signOut() {
  const session = getSession();
  clearSession();
  if (session && session.refreshToken) {
    try {
      await request("POST", "/api/v1/auth/sign-out",
        { body: { refreshToken: session.refreshToken }, auth: false });
    } catch {
      // Signed out locally either way; the refresh token expires on its own.
    }
  }
}

export const isManager = (session) => !!session && (session.role === "ADMIN" || session.role === "SUPER");
