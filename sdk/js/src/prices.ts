/**
 * The Prices family (/prices/{app_id}): prices for the card widget. Answers `data` of
 * the family's `{ data }` envelope; `list` answers `{ data, pagination }`.
 */

import { type ClientOptions, type Query, type RequestOptions, Transport } from './core.js';

type Body = Record<string, unknown>;
type CallOptions = Pick<RequestOptions, 'idempotencyKey' | 'timeout' | 'signal'>;

const seg = (value: string) => {
  if (!value) throw new TypeError('an id must be a non-empty string');
  return encodeURIComponent(value);
};

export interface Price {
  id: string;
  amount: number | string;
  currency: string;
  type: 'static' | 'dynamic' | string;
  [key: string]: unknown;
}

export class PricesClient {
  readonly transport: Transport;

  constructor(options: ClientOptions = {}) {
    this.transport = new Transport(options, 'prices', '/prices');
  }

  create(appId: string, body: Body, options?: CallOptions): Promise<Price> {
    return this.transport.request('POST', `/${seg(appId)}`, { ...options, body });
  }

  list(appId: string, query: { page?: number; per_page?: number; [k: string]: unknown } = {},
    options?: CallOptions): Promise<{ data: Price[]; pagination: Record<string, unknown> }> {
    return this.transport.request('GET', `/${seg(appId)}`, {
      ...options, query: query as Query, envelope: true,
    });
  }

  get(appId: string, priceId: string, options?: CallOptions): Promise<Price> {
    return this.transport.request('GET', `/${seg(appId)}/${seg(priceId)}`, options);
  }

  del(appId: string, priceId: string, options?: CallOptions): Promise<unknown> {
    return this.transport.request('DELETE', `/${seg(appId)}/${seg(priceId)}`, options);
  }
}
