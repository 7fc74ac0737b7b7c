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

// A number in major units as the API wrote it: 975.00 -> "975.00 USD".
export function major(value, currency) {
  if (value === null || value === undefined || value === "") return "—";
  const [i, f] = String(value).split(".");
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
  return Number.isNaN(d.getTime()) ? String(value) : `${FMT.format(d)} UTC`;
}
