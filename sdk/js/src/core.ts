/**
 * What every client shares: configuration, building a request, one call's attempts
 * (retries with backoff, one Idempotency-Key for all of them, a timeout per attempt)
 * and turning an answer into its result or a typed error. Only the platform's fetch.
 */

import {
  ConflictError, ConnectionError, NorPayError, RateLimitError, ServerError, TimeoutError,
  errorClassFor,
} from './errors.js';
import { VERSION } from './version.js';

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RETRIES = 2;
const KEYED_METHODS = new Set(['POST', 'PATCH']);
const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);
// The gateway answers 409 with this code while the first request with the key runs.
const IN_PROGRESS = 'idempotency_key_in_progress';
const MAX_RETRY_AFTER_S = 60;

export type Family = 'norpay' | 'norah' | 'prices';
export type Query = Record<string, string | number | boolean | bigint | null | undefined>;
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** An API key (nk_...); NORPAY_API_KEY in Node when absent. */
  apiKey?: string;
  /** A signed-in user's access token (Authorization: Bearer), instead of or beside a key. */
  accessToken?: string;
  /** Where the gateway is: NORPAY_BASE_URL in Node, else http://127.0.0.1:8080. */
  baseUrl?: string;
  /** Milliseconds one attempt may take (30,000). */
  timeout?: number;
  /** Attempts after the first on a network error, a 5xx or a 429 (2). */
  maxRetries?: number;
  /** First backoff in milliseconds (500), doubled per attempt up to maxBackoff (8,000). */
  backoff?: number;
  maxBackoff?: number;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** A fetch to use instead of the platform's (tests, proxies). */
  fetch?: FetchLike;
}

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** Sent as Idempotency-Key (POST and PATCH; one is made when absent). */
  idempotencyKey?: string;
  /** Milliseconds for this call's attempts, instead of the client's. */
  timeout?: number;
  /** The answer's bytes (a PDF, a CSV), not its envelope. */
  raw?: boolean;
  /** The whole envelope (with pagination), not its result. */
  envelope?: boolean;
  signal?: AbortSignal;
}

const env = (name: string): string | undefined => {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.[name] || undefined;
};

export function newIdempotencyKey(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return `norchain-${c.randomUUID()}`;
  const hex = Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16));
  return `norchain-${hex.join('')}`;
}

export function normaliseBaseUrl(url: string): string {
  let out = url.replace(/\/+$/, '');
  for (const suffix of ['/api/v2', '/api/v1', '/api']) {
    if (out.endsWith(suffix)) out = out.slice(0, -suffix.length);
  }
  if (!/^https?:\/\//.test(out)) {
    throw new TypeError(`baseUrl must start with http:// or https://, not ${JSON.stringify(url)}`);
  }
  return out;
}

/** Seconds a Retry-After header asks for (a number or an HTTP date), or undefined. */
export function retryAfterSeconds(raw: string | null | undefined, now = Date.now()): number | undefined {
  if (!raw) return undefined;
  const text = raw.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const when = Date.parse(text);
  return Number.isNaN(when) ? undefined : Math.max(0, (when - now) / 1000);
}

function jsonBody(value: unknown): string {
  // Amounts are strings; a bigint (wei) goes out as its digits, never as a double.
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

function headersOf(response: Response): Record<string, string> {
  const out: Record<string, string> = {};
  response.headers.forEach((value, key) => { out[key] = value; });
  return out;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One API family's transport: its path prefix and envelope. */
export class Transport {
  readonly baseUrl: string;
  readonly timeout: number;
  readonly maxRetries: number;
  readonly backoff: number;
  readonly maxBackoff: number;
  readonly family: Family;
  readonly prefix: string;
  // Private fields: never enumerated, logged or serialised with the client.
  #apiKey?: string;
  #accessToken?: string;
  #headers: Record<string, string>;
  #fetch: FetchLike;

  constructor(options: ClientOptions, family: Family, prefix: string) {
    const apiKey = options.apiKey ?? env('NORPAY_API_KEY');
    // NORAH signs up and in without one; NorPay's every call needs one.
    if (!apiKey && !options.accessToken && family === 'norpay') {
      throw new TypeError('NorPayClient needs apiKey (or NORPAY_API_KEY) or accessToken');
    }
    const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) {
      throw new TypeError('maxRetries must be a whole number, 0 or more');
    }
    const fetchImpl = options.fetch ?? (globalThis.fetch as FetchLike | undefined);
    if (!fetchImpl) throw new TypeError('No fetch: use Node.js 18+ or pass options.fetch');
    this.#apiKey = apiKey;
    this.#accessToken = options.accessToken;
    this.#headers = { ...(options.headers ?? {}) };
    this.#fetch = fetchImpl;
    this.baseUrl = normaliseBaseUrl(options.baseUrl ?? env('NORPAY_BASE_URL') ?? DEFAULT_BASE_URL);
    this.timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
    this.maxRetries = maxRetries;
    this.backoff = options.backoff ?? 500;
    this.maxBackoff = options.maxBackoff ?? 8_000;
    this.family = family;
    this.prefix = prefix;
  }

  /** Another family's transport with the same credentials and settings. */
  sibling(family: Family, prefix: string): Transport {
    return new Transport({
      apiKey: this.#apiKey, accessToken: this.#accessToken, baseUrl: this.baseUrl,
      timeout: this.timeout, maxRetries: this.maxRetries, backoff: this.backoff,
      maxBackoff: this.maxBackoff, headers: this.#headers, fetch: this.#fetch,
    }, family, prefix);
  }

  /** Use a new access token from now on (after a sign-in or a refresh). */
  setAccessToken(token: string | undefined): void {
    this.#accessToken = token;
  }

  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl, family: this.family };
  }

  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const verb = method.toUpperCase();
    const headers: Record<string, string> = {
      Accept: 'application/json', ...this.#headers,
    };
    if (typeof (globalThis as { window?: unknown }).window === 'undefined') {
      headers['User-Agent'] = `norchain-js/${VERSION}`;
    }
    if (this.#apiKey) headers['X-API-Key'] = this.#apiKey;
    if (this.#accessToken) headers.Authorization = `Bearer ${this.#accessToken}`;
    let body: string | undefined;
    if (options.body !== undefined || KEYED_METHODS.has(verb)) {
      body = jsonBody(options.body ?? {});
      headers['Content-Type'] = 'application/json';
    }
    if (KEYED_METHODS.has(verb)) {
      headers['Idempotency-Key'] = options.idempotencyKey ?? newIdempotencyKey();
    } else if (options.idempotencyKey !== undefined) {
      throw new TypeError(`Idempotency-Key applies to POST and PATCH, not ${verb}`);
    }
    const url = new URL(this.baseUrl + this.prefix + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    const timeout = options.timeout ?? this.timeout;
    for (let attempt = 0; ; attempt += 1) {
      let error: NorPayError;
      try {
        const response = await this.#attempt(url.toString(), { method: verb, headers, body },
          timeout, options.signal);
        return await this.#settle<T>(response, options);
      } catch (caught) {
        if (!(caught instanceof NorPayError)) throw caught;
        error = caught;
      }
      const delay = this.retryDelay(attempt, error);
      if (delay === undefined) throw error;
      await sleep(delay);
    }
  }

  async #attempt(url: string, init: RequestInit, timeout: number,
    signal?: AbortSignal): Promise<Response> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout);
    const onAbort = () => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.#fetch(url, { ...init, signal: controller.signal });
    } catch (cause) {
      if (signal?.aborted) throw cause; // the caller's own abort: not ours to retry
      if (controller.signal.aborted) {
        throw new TimeoutError(`No answer within ${timeout} ms`, { cause });
      }
      const why = cause instanceof Error ? cause.message : String(cause);
      throw new ConnectionError(`Could not reach the API at ${this.baseUrl}: ${why}`, { cause });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #settle<T>(response: Response, options: RequestOptions): Promise<T> {
    if (response.ok && options.raw) {
      return new Uint8Array(await response.arrayBuffer()) as T;
    }
    const text = await response.text();
    let payload: unknown;
    try {
      payload = text ? JSON.parse(text) : undefined;
    } catch {
      payload = undefined;
    }
    const record = (payload ?? {}) as Record<string, unknown>;
    if (response.ok) {
      if (this.family === 'norpay' && record.status === '0') throw this.error(response, payload, text);
      if (options.envelope) return payload as T;
      if (this.family === 'norpay' && record.status === '1' && 'result' in record) {
        return record.result as T;
      }
      if (this.family === 'prices' && 'data' in record) return record.data as T;
      return payload as T;
    }
    throw this.error(response, payload, text);
  }

  error(response: Response, payload: unknown, text: string): NorPayError {
    const record = (payload ?? {}) as Record<string, unknown>;
    const detail = (record.error ?? {}) as Record<string, unknown>;
    let message = typeof record.message === 'string' ? record.message : undefined;
    if (!message && typeof detail.message === 'string') message = detail.message;
    if (!message) {
      message = `HTTP ${response.status}${text ? `: ${text.trim().slice(0, 200)}` : ''}`;
    }
    const code = response.headers.get('X-Error-Code')
      ?? (typeof detail.code === 'string' ? detail.code : undefined);
    const details = {
      status: response.status, code, body: payload, headers: headersOf(response),
      requestId: response.headers.get('X-Request-ID') ?? undefined,
    };
    const Kind = errorClassFor(response.status);
    if (Kind === RateLimitError) {
      return new RateLimitError(message, {
        ...details, retryAfter: retryAfterSeconds(response.headers.get('Retry-After')),
      });
    }
    return new Kind(message, details);
  }

  /** Milliseconds to wait before attempt `attempt + 1`, or undefined to give up. */
  retryDelay(attempt: number, error: NorPayError): number | undefined {
    if (attempt >= this.maxRetries) return undefined;
    const retryable = error instanceof ConnectionError
      || ((error instanceof ServerError || error instanceof RateLimitError)
        && RETRY_STATUSES.has(error.status ?? 0))
      || (error instanceof ConflictError && error.code === IN_PROGRESS);
    if (!retryable) return undefined;
    // Jitter spreads the clients that failed together.
    let delay = Math.min(this.maxBackoff, this.backoff * 2 ** attempt) * (0.5 + Math.random() / 2);
    const server = error instanceof RateLimitError ? error.retryAfter
      : retryAfterSeconds(error.headers['retry-after']);
    if (server !== undefined) {
      if (server > MAX_RETRY_AFTER_S) return undefined;
      delay = Math.max(delay, server * 1000);
    }
    return delay;
  }
}
