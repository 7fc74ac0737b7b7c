/**
 * What the NorPay family takes and answers. Requests are the API's own request schemas,
 * generated from the gateway's OpenAPI document (src/openapi.ts, `npm run generate`;
 * CI fails when it no longer matches the code), with every amount a string or a
 * bigint of minor units, never a number (wei do not fit a double). Answers are as the
 * API writes them: camelCase fields, amounts as strings, times as strings of Unix
 * seconds; fields this version does not name are still there.
 */

import type { components } from './openapi.js';

type Schemas = components['schemas'];
/** A request schema whose `K` fields are amounts: strings or bigints, never numbers. */
type Amounts<T, K extends keyof T> = Omit<T, K> & { [P in K]: undefined extends T[P]
  ? AmountInput | undefined : AmountInput };

export type CreatePayment = Amounts<Schemas['CreatePayment'], 'amount'>;
export type ConfirmPayment = Schemas['ConfirmPayment'];
export type PaymentAction = Schemas['PaymentAction'];
export type RefundPayment = Amounts<Schemas['RefundPayment'], 'amount'>;
export type CreatePlan = Amounts<Schemas['CreatePlan'], 'amount'>;
export type CreateSubscription = Schemas['CreateSubscription'];
export type CancelSubscription = Schemas['CancelSubscription'];
export type InvoiceItem = Amounts<Schemas['InvoiceItem'], 'unitPrice' | 'amount'>;
export type CreateInvoice = Omit<Schemas['CreateInvoice'], 'items'> & { items: InvoiceItem[] };
export type CreateEndpoint = Schemas['CreateEndpoint'];
export type CreatePayout = Amounts<Schemas['CreatePayout'], 'amount'>;

export type Amount = string;
/** An amount you send: a string of minor units, or a bigint (never a number). */
export type AmountInput = string | bigint;
export type UnixSeconds = string;
export type Metadata = Record<string, unknown>;

export interface Pagination {
  page: number;
  per_page: number;
  total: number;
  /** True when `total` is the database's estimate (past 1,000 rows). */
  totalIsEstimate?: boolean;
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor?: string | null;
  [key: string]: unknown;
}

export interface Payment {
  paymentId: string;
  amount: Amount;
  currency: string;
  status: 'pending' | 'processing' | 'requires_action' | 'completed' | 'failed' | 'canceled'
    | 'expired' | 'refunded' | string;
  /** The hosted checkout page: redirect the shopper here. */
  checkoutUrl: string;
  description?: string | null;
  metadata?: Metadata;
  expiresAt?: UnixSeconds;
  createdAt?: UnixSeconds;
  livemode?: boolean;
  [key: string]: unknown;
}



export interface Plan {
  planId: string;
  name: string;
  amount: Amount;
  currency: string;
  interval: 'day' | 'week' | 'month' | 'year' | string;
  features?: string[];
  [key: string]: unknown;
}


export interface Subscription {
  subscriptionId: string;
  planId: string;
  customerId: string;
  status: 'trialing' | 'active' | 'past_due' | 'canceled' | string;
  [key: string]: unknown;
}



export interface Invoice {
  invoiceId: string;
  invoiceNumber: string;
  status: string;
  total?: Amount;
  pdfUrl?: string;
  paymentUrl?: string;
  [key: string]: unknown;
}


export interface LedgerEntry {
  entryId?: string;
  account: string;
  direction: 'debit' | 'credit' | string;
  amount: Amount;
  currency: string;
  referenceType?: string;
  referenceId?: string;
  /** The seed's form: "Dr Customer NOR Wallet 1.00 NOR". */
  display?: string;
  [key: string]: unknown;
}

export interface Dashboard {
  revenue: { total: Amount; payments: Amount; subscriptions: Amount };
  payments: Record<string, number>;
  subscriptions: Record<string, number>;
  customers: { total: number; new: number };
  topProducts: { name: string; revenue: Amount; count: number }[];
  period: string;
  since: UnixSeconds;
  currency: string;
  [key: string]: unknown;
}

export interface WebhookEndpoint {
  endpointId: string;
  url: string;
  events: string[];
  enabled: boolean;
  /** Only on create and rotate-secret. */
  secret?: string;
  [key: string]: unknown;
}

export interface WebhookDelivery {
  deliveryId: string;
  endpointId: string;
  eventId: string;
  event: string;
  status: 'pending' | 'succeeded' | 'failed' | 'canceled' | string;
  [key: string]: unknown;
}

export type Page<K extends string, T> = { [P in K]: T[] } & { pagination: Pagination };
