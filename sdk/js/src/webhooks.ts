/**
 * Checking that a webhook really comes from NorPay. Every delivery is signed twice:
 *
 * - `X-NorPay-Signature`: hex HMAC-SHA256 of the raw body keyed with the whole
 *   `whsec_...` secret. `verifyWebhook(payload, signature, secret)` is the seed's
 *   function, compared in constant time.
 * - `webhook-id`, `webhook-timestamp`, `webhook-signature`: Standard Webhooks.
 *   `verifyHeaders` checks them and refuses a timestamp outside the tolerance (a replay).
 *
 * Pass the raw body exactly as received (Express: `express.raw({ type:
 * 'application/json' })`): a parsed and re-serialised body is different bytes and fails.
 */

import { WebhookVerificationError } from './errors.js';
import { base64, fromBase64, hex, hmacSha256, timingSafeEqual, utf8 } from './sha256.js';

export type Payload = string | Uint8Array;
export type HeaderBag = Record<string, string | string[] | undefined> | Headers;

export const DEFAULT_TOLERANCE_S = 300;
const SECRET_PREFIX = 'whsec_';

function bytesOf(payload: Payload): Uint8Array {
  if (typeof payload === 'string') return utf8(payload);
  if (payload instanceof Uint8Array) return payload;
  throw new TypeError('payload must be the raw body (a string or bytes), not a parsed object');
}

/** The X-NorPay-Signature of a body: hex HMAC-SHA256 keyed with the secret. */
export function sign(payload: Payload, secret: string): string {
  return hex(hmacSha256(utf8(secret), bytesOf(payload)));
}

/** The seed's verifyWebhook: true when `signature` (the X-NorPay-Signature header) is
 * the hex HMAC-SHA256 of the raw `payload` keyed with `secret`. */
export function verifyWebhook(payload: Payload, signature: string | string[] | undefined | null,
  secret: string): boolean {
  const given = Array.isArray(signature) ? signature[0] : signature;
  if (!given || !secret) return false;
  return timingSafeEqual(sign(payload, secret), given.trim().toLowerCase());
}

function keyOf(secret: string): Uint8Array {
  const raw = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = fromBase64(raw);
  if (!key) throw new WebhookVerificationError('The webhook secret is not a whsec_<base64> secret');
  return key;
}

/** The webhook-signature value (`v1,<base64>`) of a delivery for one secret. */
export function standardSignature(id: string, timestamp: number | string, payload: Payload,
  secret: string): string {
  const prefix = utf8(`${id}.${timestamp}.`);
  const body = bytesOf(payload);
  const content = new Uint8Array(prefix.length + body.length);
  content.set(prefix);
  content.set(body, prefix.length);
  return `v1,${base64(hmacSha256(keyOf(secret), content))}`;
}

function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
    return headers.get(name) ?? undefined;
  }
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() === wanted) {
      return Array.isArray(value) ? String(value[0]) : typeof value === 'string' ? value : undefined;
    }
  }
  return undefined;
}

export interface VerifyOptions {
  /** Seconds the webhook-timestamp may be from now (300). */
  tolerance?: number;
  /** Unix seconds to compare with, instead of the clock (tests). */
  now?: number;
}

/** Check a delivery's Standard Webhooks headers and answer its parsed event. `secret`
 * may be several (during a rotation). Deduplicate by webhook-id: delivery is at least
 * once. */
export function verifyHeaders<T = Record<string, unknown>>(payload: Payload, headers: HeaderBag,
  secret: string | string[], options: VerifyOptions = {}): T {
  const id = header(headers, 'webhook-id');
  const stamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !stamp || !signatures) {
    throw new WebhookVerificationError(
      'Missing webhook-id, webhook-timestamp or webhook-signature header');
  }
  if (!/^\d+$/.test(stamp.trim())) {
    throw new WebhookVerificationError('webhook-timestamp is not Unix seconds');
  }
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE_S;
  const now = options.now ?? Date.now() / 1000;
  if (Math.abs(now - Number(stamp)) > tolerance) {
    throw new WebhookVerificationError(
      `webhook-timestamp is more than ${tolerance} seconds away from now`);
  }
  const offered = signatures.split(/\s+/).filter((p) => p.startsWith('v1,')).map((p) => p.slice(3));
  for (const candidate of Array.isArray(secret) ? secret : [secret]) {
    const expected = standardSignature(id, stamp.trim(), payload, candidate).slice(3);
    if (offered.some((sig) => timingSafeEqual(expected, sig))) {
      try {
        return JSON.parse(typeof payload === 'string' ? payload : new TextDecoder().decode(payload)) as T;
      } catch {
        throw new WebhookVerificationError('The payload is not JSON');
      }
    }
  }
  throw new WebhookVerificationError('No webhook-signature matches the secret');
}
