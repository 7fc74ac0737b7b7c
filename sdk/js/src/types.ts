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

// Answers: the schemas the gateway documents for each route, derived from the models its
// handlers' answers are checked against (shared/http/answers.py); generated with the
// requests (src/openapi.ts). Fields a later version adds are still there at run time.
export type Pagination = Schemas['Pagination'];
export type Payment = Schemas['Payment'];
export type PaymentList = Schemas['PaymentList'];
export type Refund = Schemas['Refund'];
export type PaymentTimeline = Schemas['PaymentTimeline'];
export type Plan = Schemas['Plan'];
export type PlanList = Schemas['PlanList'];
export type Subscription = Schemas['Subscription'];
export type SubscriptionList = Schemas['SubscriptionList'];
export type SubscriptionInvoice = Schemas['SubscriptionInvoice'];
export type Invoice = Schemas['Invoice'];
export type InvoiceList = Schemas['InvoiceList'];
export type SentInvoice = Schemas['SentInvoice'];
export type TaxRate = Schemas['TaxRate'];
export type LedgerEntry = Schemas['LedgerEntry'];
export type LedgerEntryList = Schemas['LedgerEntryList'];
export type LedgerAccountList = Schemas['LedgerAccountList'];
export type TrialBalance = Schemas['TrialBalance'];
export type SettlementReport = Schemas['SettlementReport'];
export type LedgerReversal = Schemas['LedgerReversal'];
export type Dashboard = Schemas['Dashboard'];
export type WebhookEndpoint = Schemas['Endpoint'];
/** The endpoint as created: with its signing secret, shown once. */
export type CreatedWebhookEndpoint = Schemas['CreatedEndpoint'];
export type WebhookEndpointList = Schemas['EndpointList'];
export type DeletedWebhookEndpoint = Schemas['DeletedEndpoint'];
export type RotatedSecret = Schemas['RotatedSecret'];
/** A delivery as the log lists it, a redelivery or a test event answers it. */
export type WebhookDelivery = Schemas['Delivery'];
/** One delivery with every attempt (deliveries.get). */
export type WebhookDeliveryWithAttempts = Schemas['DeliveryWithAttempts'];
export type WebhookDeliveryList = Schemas['DeliveryList'];
export type Redeliveries = Schemas['Redeliveries'];
export type EventTypeList = Schemas['EventTypeList'];
export type Payout = Schemas['Payout'];
export type PayoutList = Schemas['PayoutList'];
export type Balance = Schemas['Balance'];
export type BalanceTransactionList = Schemas['BalanceTransactionList'];
export type UpcomingBalance = Schemas['UpcomingBalance'];
/** A payment of the embedded checkout (POST /v1/widget/payments, GET its status). */
export type WidgetPayment = Schemas['EmbeddedPayment'];
