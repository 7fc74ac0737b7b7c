/**
 * Shapes of the NorPay family's answers, as the API writes them: camelCase fields,
 * amounts as strings of minor units (wei for NOR: they do not fit a double), times as
 * strings of Unix seconds. Fields this version does not name are still there.
 */

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

export interface CreatePayment {
  amount: AmountInput;
  currency: string;
  description?: string;
  metadata?: Metadata;
  successUrl?: string;
  cancelUrl?: string;
  /** Unix seconds, 5 minutes to 24 hours ahead. */
  expiresAt?: number | string;
  [key: string]: unknown;
}

export interface ConfirmPayment {
  paymentMethod: 'NOR_WALLET' | 'VISA_MASTER' | 'OMARI' | 'ECOCASH' | 'ZIMSWITCH' | 'INNBUCKS'
    | string;
  payer?: string;
  card?: { number: string; expMonth: number | string; expYear: number | string; cvc: string };
  phoneNumber?: string;
  account?: string;
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

export interface CreatePlan {
  name: string;
  amount: AmountInput;
  currency: string;
  interval: string;
  intervalCount?: number;
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

export interface CreateSubscription {
  planId: string;
  customerId: string;
  trialDays?: number;
  metadata?: Metadata;
  paymentMethod?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface InvoiceItem {
  description: string;
  quantity: number;
  unitPrice: AmountInput;
  amount: AmountInput;
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

export interface CreateInvoice {
  customer: { name: string; email: string; [key: string]: unknown };
  items: InvoiceItem[];
  currency: string;
  /** Unix seconds. */
  dueDate: number | string;
  notes?: string;
  taxRateId?: string;
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
