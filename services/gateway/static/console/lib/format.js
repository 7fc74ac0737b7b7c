// Money and time as people read them. Amounts stay exact: minor units (NorPay) are
// BigInt, major units (NORAH) are kept as the API's decimal text.

export const EXPONENT = {
  NOR: 18, USD: 2, ZWG: 2, ZWL: 2, EUR: 2, GBP: 2, ZAR: 2, BWP: 2, ZMW: 2, KES: 2, NGN: 2,
  GHS: 2, CAD: 2, AUD: 2, CHF: 2, CNY: 2, INR: 2, JPY: 0, KRW: 0, BHD: 3, KWD: 3,
};
export const CURRENCIES = Object.keys(EXPONENT);

function group(intPart) {
  return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

// "123456" USD -> "1,234.56 USD"; NOR shows at most 6 decimals (trailing zeros cut).
export function minor(value, currency) {
  if (value === null || value === undefined || value === "") return "—";
  const exp = EXPONENT[String(currency).toUpperCase()] ?? 2;
  let n = BigInt(value);
  const sign = n < 0n ? "-" : "";
  if (n < 0n) n = -n;
  const s = n.toString().padStart(exp + 1, "0");
  const intPart = s.slice(0, s.length - exp) || "0";
  let frac = exp ? s.slice(s.length - exp) : "";
  if (exp > 6) frac = frac.slice(0, 6).replace(/0+$/, "");
  return `${sign}${group(intPart)}${frac ? "." + frac : ""} ${currency}`;
}

// A number in major units as the API wrote it: 975.00 -> "975.00 USD"; NOR, like
// minor(), at most 6 decimals (trailing zeros cut), so a list and the detail page agree.
export function major(value, currency) {
  if (value === null || value === undefined || value === "") return "—";
  let [i, f] = String(value).split(".");
  const exp = EXPONENT[String(currency || "").toUpperCase()] ?? 2;
  if (f !== undefined && exp > 6) f = f.slice(0, 6).replace(/0+$/, "") || undefined;
  return `${group(i)}${f !== undefined ? "." + f : ""} ${currency || ""}`.trim();
}

// A BigInt-safe ratio for drawing (never for money shown as text).
export function toNumber(value) {
  try {
    return Number(BigInt(value || 0));
  } catch {
    return Number(value) || 0;
  }
}

const FMT = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "medium", timeZone: "UTC" });

// Epoch seconds ("1640995200"), ISO 8601, or NORAH's "YYYY-MM-DDTHH:MM:SS" (UTC).
export function when(value) {
  if (value === null || value === undefined || value === "") return "—";
  let d;
  if (/^\d+$/.test(String(value))) d = new Date(Number(value) * 1000);
  else d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
  if (Number.isNaN(d.getTime())) return String(value);
  // Two lines at most in a narrow column (date, then time), never a word a line.
  const [day, time] = FMT.format(d).split(", ");
  return `${day.replace(/ /g, "\u00a0")}, ${time ? time + "\u00a0UTC" : "UTC"}`;
}

export class AmountError extends Error {}

// What a person types in major units ("12.50", "1,234.5", "7") as a minor-unit string
// for the currency, exactly: digit strings, never a float. Throws AmountError.
export function toMinor(text, currency) {
  const exp = EXPONENT[String(currency).toUpperCase()] ?? 2;
  const clean = String(text ?? "").trim().replace(/[\s,]/g, "");
  const m = /^(\d*)(?:\.(\d*))?$/.exec(clean);
  if (!clean || !m || (!m[1] && !m[2])) throw new AmountError("Enter the amount as a number, e.g. 12.50");
  const frac = (m[2] || "").replace(/0+$/, "");
  if (frac.length > exp) {
    throw new AmountError(exp ? `${currency} has at most ${exp} decimals` : `${currency} has no decimals`);
  }
  const digits = ((m[1] || "") + frac.padEnd(exp, "0")).replace(/^0+(?=\d)/, "");
  if (BigInt(digits) <= 0n) throw new AmountError("The amount must be greater than 0");
  return digits;
}

// A Unix-seconds bound of a day picked in a date input (UTC): its first second, or
// with `end` its last one.
export function dayBound(date, { end = false } = {}) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date || "")) return undefined;
  const start = Date.parse(`${date}T00:00:00Z`) / 1000;
  return String(end ? start + 86_399 : start);
}

const DAY = new Intl.DateTimeFormat("en-GB", { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });

// "2026-12-08" -> "Tue 8 Dec" (a chart's bar label).
export function dayLabel(date) {
  const d = new Date(`${date}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? String(date) : DAY.format(d);
}
