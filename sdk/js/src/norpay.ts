/**
 * The NorPay family (/api/v2): `new NorPayClient({ apiKey })` and its resources, as the
 * seed writes them (`norpay.payments.create({...})`), and NorLedger
 * (`norledger.entries.list({ referenceType, referenceId })`). Each method answers the
 * envelope's `result`; an error answer throws a typed NorPayError with the API's message.
 */

import { type ClientOptions, type Query, type RequestOptions, Transport } from './core.js';
import type {
  Balance as BalanceAnswer, BalanceTransactionList, CancelSubscription, ConfirmPayment,
  CreateEndpoint, CreatedWebhookEndpoint, CreateInvoice, CreatePayment, CreatePayout,
  CreatePlan, CreateSubscription, Dashboard, DeletedWebhookEndpoint, EventTypeList, Invoice,
  InvoiceList, LedgerAccountList, LedgerEntryList, LedgerReversal, Payment, PaymentAction,
  PaymentList, PaymentTimeline, Payout, PayoutList, Plan, PlanList, Redeliveries, Refund,
  RefundPayment, RotatedSecret, SentInvoice, SettlementReport, Subscription,
  SubscriptionInvoice, SubscriptionList, TaxRate, TrialBalance, UpcomingBalance,
  WebhookDelivery, WebhookDeliveryList, WebhookDeliveryWithAttempts, WebhookEndpoint, WebhookEndpointList,
} from './types.js';
import { sign, standardSignature, verifyHeaders, verifyWebhook } from './webhooks.js';

/** Per-call options: an Idempotency-Key of your own (one is made per call otherwise,
 * and reused by its retries), a timeout in milliseconds, an AbortSignal. */
export type CallOptions = Pick<RequestOptions, 'idempotencyKey' | 'timeout' | 'signal'>;
type Body = Record<string, unknown>;

function id(value: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError('an id must be a non-empty string');
  return encodeURIComponent(value);
}

class Resource {
  constructor(protected readonly t: Transport) {}

  protected _get<T>(path: string, query?: object, options?: CallOptions): Promise<T> {
    return this.t.request<T>('GET', path, { ...options, query: query as Query });
  }

  protected _post<T>(path: string, body?: object, options?: CallOptions): Promise<T> {
    return this.t.request<T>('POST', path, { ...options, body: body ?? {} });
  }
}

export class Payments extends Resource {
  create(params: CreatePayment, options?: CallOptions): Promise<Payment> {
    return this._post('/payments/create', params, options);
  }

  get(paymentId: string, options?: CallOptions): Promise<Payment> {
    return this._get(`/payments/${id(paymentId)}`, undefined, options);
  }

  /** Your payments, newest first: by page, or pass `pagination.nextCursor` as `cursor`. */
  list(query: ListQuery & { status?: string; merchantId?: number } = {},
    options?: CallOptions): Promise<PaymentList> {
    return this._get('/payments', query, options);
  }

  /** The same as get. */
  retrieve(paymentId: string, options?: CallOptions): Promise<Payment> {
    return this.get(paymentId, options);
  }

  confirm(paymentId: string, params: ConfirmPayment, options?: CallOptions): Promise<Payment> {
    return this._post(`/payments/${id(paymentId)}/confirm`, params, options);
  }

  /** Answer a pending step: `{ otp }` (OMARI) or `{ threeDSecure: 'pass' }`. */
  action(paymentId: string, params: PaymentAction, options?: CallOptions): Promise<Payment> {
    return this._post(`/payments/${id(paymentId)}/action`, params, options);
  }

  cancel(paymentId: string, options?: CallOptions): Promise<Payment> {
    return this._post(`/payments/${id(paymentId)}/cancel`, {}, options);
  }

  /** Refund `amount` (minor units), or all that is left without one. */
  refund(paymentId: string, params: RefundPayment = {},
    options?: CallOptions): Promise<Refund> {
    return this._post(`/payments/${id(paymentId)}/refund`, params, options);
  }

  timeline(paymentId: string, options?: CallOptions): Promise<PaymentTimeline> {
    return this._get(`/payments/${id(paymentId)}/timeline`, undefined, options);
  }
}

interface ListQuery { page?: number; per_page?: number; cursor?: string; [key: string]: unknown }

export class Plans extends Resource {
  create(params: CreatePlan, options?: CallOptions): Promise<Plan> {
    return this._post('/plans/create', params, options);
  }

  get(planId: string, options?: CallOptions): Promise<Plan> {
    return this._get(`/plans/${id(planId)}`, undefined, options);
  }

  list(query: ListQuery = {}, options?: CallOptions): Promise<PlanList> {
    return this._get('/plans', query, options);
  }
}

export class Subscriptions extends Resource {
  create(params: CreateSubscription, options?: CallOptions): Promise<Subscription> {
    return this._post('/subscriptions/create', params, options);
  }

  get(subscriptionId: string, options?: CallOptions): Promise<Subscription> {
    return this._get(`/subscriptions/${id(subscriptionId)}`, undefined, options);
  }

  list(query: ListQuery & { status?: string; customerId?: string } = {},
    options?: CallOptions): Promise<SubscriptionList> {
    return this._get('/subscriptions', query, options);
  }

  cancel(subscriptionId: string, params: CancelSubscription = {},
    options?: CallOptions): Promise<Subscription> {
    return this._post(`/subscriptions/${id(subscriptionId)}/cancel`, params, options);
  }

  invoices(subscriptionId: string, options?: CallOptions): Promise<SubscriptionInvoice[]> {
    return this._get(`/subscriptions/${id(subscriptionId)}/invoices`, undefined, options);
  }

  setPaymentMethod(subscriptionId: string, params: Body,
    options?: CallOptions): Promise<Subscription> {
    return this._post(`/subscriptions/${id(subscriptionId)}/payment-method`, params, options);
  }
}

export class TaxRates extends Resource {
  create(params: { name: string; percentage: string; default?: boolean },
    options?: CallOptions): Promise<TaxRate> {
    return this._post('/invoices/tax-rates', params, options);
  }

  list(options?: CallOptions): Promise<TaxRate[]> {
    return this._get('/invoices/tax-rates', undefined, options);
  }
}

export class Invoices extends Resource {
  readonly taxRates: TaxRates;

  constructor(t: Transport) {
    super(t);
    this.taxRates = new TaxRates(t);
  }

  create(params: CreateInvoice, options?: CallOptions): Promise<Invoice> {
    return this._post('/invoices/create', params, options);
  }

  get(invoiceId: string, options?: CallOptions): Promise<Invoice> {
    return this._get(`/invoices/${id(invoiceId)}`, undefined, options);
  }

  list(query: ListQuery & { status?: string; customerEmail?: string } = {},
    options?: CallOptions): Promise<InvoiceList> {
    return this._get('/invoices', query, options);
  }

  /** E-mail the invoice (PDF attached, payment link). */
  send(invoiceId: string, options?: CallOptions): Promise<SentInvoice> {
    return this._post(`/invoices/${id(invoiceId)}/send`, {}, options);
  }

  void(invoiceId: string, options?: CallOptions): Promise<Invoice> {
    return this._post(`/invoices/${id(invoiceId)}/void`, {}, options);
  }

  /** The invoice as PDF bytes. */
  pdf(invoiceId: string, options?: CallOptions): Promise<Uint8Array> {
    return this.t.request('GET', `/invoices/${id(invoiceId)}/pdf`, { ...options, raw: true });
  }
}

export class Merchants extends Resource {
  /** Statistics for `period` = today, week, month (the default) or year. */
  dashboard(query: { period?: 'today' | 'week' | 'month' | 'year'; currency?: string;
    merchantId?: number; companyId?: number } = {}, options?: CallOptions): Promise<Dashboard> {
    return this._get('/merchants/dashboard', query, options);
  }
}

export class LedgerEntries extends Resource {
  /** `{ entries, pagination }`, oldest transaction first; each entry has `display`. */
  list(query: ListQuery & { referenceType?: string; referenceId?: string; account?: string;
    merchantId?: number } = {}, options?: CallOptions): Promise<LedgerEntryList> {
    return this._get('/ledger/entries', query, options);
  }
}

export class Ledger extends Resource {
  readonly entries: LedgerEntries;

  constructor(t: Transport) {
    super(t);
    this.entries = new LedgerEntries(t);
  }

  accounts(query: { merchantId?: number } = {},
    options?: CallOptions): Promise<LedgerAccountList> {
    return this._get('/ledger/accounts', query, options);
  }

  trialBalance(query: { merchantId?: number } = {},
    options?: CallOptions): Promise<TrialBalance> {
    return this._get('/ledger/trial-balance', query, options);
  }

  /** The payout report; `format: 'csv'` answers the CSV bytes. */
  settlement(query: { period?: string; from?: number | string; to?: number | string;
    merchantId?: number; format?: 'json' | 'csv' } = {}, options?: CallOptions): Promise<SettlementReport | Uint8Array> {
    return this.t.request('GET', '/ledger/settlement', {
      ...options, query: query as Query, raw: query.format === 'csv',
    });
  }

  /** Post the mirror image of a transaction (ADMIN or SUPER). */
  reverse(transactionId: string, options?: CallOptions): Promise<LedgerReversal> {
    return this._post(`/ledger/transactions/${id(transactionId)}/reverse`, {}, options);
  }
}

export class WebhookEndpoints extends Resource {
  /** Answers the endpoint with its `secret` (shown only here and on rotation). */
  create(params: CreateEndpoint, options?: CallOptions): Promise<CreatedWebhookEndpoint> {
    return this._post('/webhooks/endpoints', params, options);
  }

  list(query: ListQuery & { merchantId?: number } = {},
    options?: CallOptions): Promise<WebhookEndpointList> {
    return this._get('/webhooks/endpoints', query, options);
  }

  get(endpointId: string, options?: CallOptions): Promise<WebhookEndpoint> {
    return this._get(`/webhooks/endpoints/${id(endpointId)}`, undefined, options);
  }

  update(endpointId: string, changes: Body, options?: CallOptions): Promise<WebhookEndpoint> {
    return this.t.request('PATCH', `/webhooks/endpoints/${id(endpointId)}`, { ...options, body: changes });
  }

  del(endpointId: string, options?: CallOptions): Promise<DeletedWebhookEndpoint> {
    return this.t.request('DELETE', `/webhooks/endpoints/${id(endpointId)}`, options);
  }

  rotateSecret(endpointId: string, options?: CallOptions): Promise<RotatedSecret> {
    return this._post(`/webhooks/endpoints/${id(endpointId)}/rotate-secret`, {}, options);
  }

  test(endpointId: string, params: { eventType?: string } = {},
    options?: CallOptions): Promise<WebhookDelivery> {
    return this._post(`/webhooks/endpoints/${id(endpointId)}/test`, params, options);
  }
}

export class WebhookDeliveries extends Resource {
  list(query: ListQuery & { endpointId?: string; eventId?: string; event?: string;
    status?: string; merchantId?: number } = {},
  options?: CallOptions): Promise<WebhookDeliveryList> {
    return this._get('/webhooks/deliveries', query, options);
  }

  get(deliveryId: string, options?: CallOptions): Promise<WebhookDeliveryWithAttempts> {
    return this._get(`/webhooks/deliveries/${id(deliveryId)}`, undefined, options);
  }

  redeliver(deliveryId: string, options?: CallOptions): Promise<WebhookDelivery> {
    return this._post(`/webhooks/deliveries/${id(deliveryId)}/redeliver`, {}, options);
  }
}

export class Webhooks extends Resource {
  readonly endpoints: WebhookEndpoints;
  readonly deliveries: WebhookDeliveries;
  readonly verify = verifyWebhook;
  readonly verifyHeaders = verifyHeaders;
  readonly sign = sign;
  readonly standardSignature = standardSignature;

  constructor(t: Transport) {
    super(t);
    this.endpoints = new WebhookEndpoints(t);
    this.deliveries = new WebhookDeliveries(t);
  }

  /** One event again (`eventId`) or every event of a time range, to one endpoint. */
  redeliver(params: { endpointId: string; eventId?: string; since?: number | string;
    until?: number | string; onlyFailed?: boolean }, options?: CallOptions): Promise<Redeliveries> {
    return this._post('/webhooks/redeliver', params, options);
  }

  eventTypes(options?: CallOptions): Promise<EventTypeList> {
    return this._get('/webhooks/event-types', undefined, options);
  }
}

export class Payouts extends Resource {
  create(params: CreatePayout, options?: CallOptions): Promise<Payout> {
    return this._post('/payouts/create', params, options);
  }

  list(query: ListQuery & { status?: string; merchantId?: number } = {},
    options?: CallOptions): Promise<PayoutList> {
    return this._get('/payouts', query, options);
  }

  get(payoutId: string, options?: CallOptions): Promise<Payout> {
    return this._get(`/payouts/${id(payoutId)}`, undefined, options);
  }

  cancel(payoutId: string, options?: CallOptions): Promise<Payout> {
    return this._post(`/payouts/${id(payoutId)}/cancel`, {}, options);
  }
}

export class Balance extends Resource {
  get(query: { currency?: string; merchantId?: number } = {},
    options?: CallOptions): Promise<BalanceAnswer> {
    return this._get('/balance', query, options);
  }

  transactions(query: ListQuery & { currency?: string; type?: string } = {},
    options?: CallOptions): Promise<BalanceTransactionList> {
    return this._get('/balance/transactions', query, options);
  }

  upcoming(query: { currency?: string } = {},
    options?: CallOptions): Promise<UpcomingBalance> {
    return this._get('/balance/upcoming', query, options);
  }
}

/** NorLedger on its own: `new NorLedgerClient({ apiKey }).entries.list({...})`. */
export class NorLedgerClient extends Ledger {
  constructor(options: ClientOptions = {}) {
    super(new Transport(options, 'norpay', '/api/v2'));
  }
}

export class NorPayClient {
  readonly payments: Payments;
  readonly plans: Plans;
  readonly subscriptions: Subscriptions;
  readonly invoices: Invoices;
  readonly merchants: Merchants;
  readonly ledger: Ledger;
  readonly webhooks: Webhooks;
  readonly payouts: Payouts;
  readonly balance: Balance;
  readonly transport: Transport;

  constructor(options: ClientOptions = {}) {
    const t = new Transport(options, 'norpay', '/api/v2');
    this.transport = t;
    this.payments = new Payments(t);
    this.plans = new Plans(t);
    this.subscriptions = new Subscriptions(t);
    this.invoices = new Invoices(t);
    this.merchants = new Merchants(t);
    this.ledger = new Ledger(t);
    this.webhooks = new Webhooks(t);
    this.payouts = new Payouts(t);
    this.balance = new Balance(t);
  }

  /** Any NorPay route this version does not name: answers the envelope's result. */
  request<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<T> {
    return this.transport.request<T>(method, path, options);
  }
}
