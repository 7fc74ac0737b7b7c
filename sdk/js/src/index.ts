export {
  NorPayClient, NorLedgerClient, Payments, Plans, Subscriptions, Invoices, Merchants, Ledger,
  LedgerEntries, Webhooks, WebhookEndpoints, WebhookDeliveries, Payouts, Balance,
  type CallOptions,
} from './norpay.js';
export { NorahClient, type NorahEnvelope, type SignIn } from './norah.js';
export { PricesClient, type Price } from './prices.js';
export {
  Transport, newIdempotencyKey, type ClientOptions, type RequestOptions, type FetchLike,
} from './core.js';
export * from './errors.js';
export {
  verifyWebhook, verifyHeaders, sign, standardSignature, DEFAULT_TOLERANCE_S,
  type Payload, type HeaderBag, type VerifyOptions,
} from './webhooks.js';
export type * from './types.js';
export type { components, paths, operations } from './openapi.js';
export { VERSION } from './version.js';
