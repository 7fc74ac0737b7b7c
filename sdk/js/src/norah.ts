/**
 * The NORAH family (/api/v1): JWT sign-in, merchants, charges, transaction tokens and
 * the transaction lists. Each method answers NORAH's own envelope as the API writes
 * it (`{ timestamp, statusCode, status, message, data, pagination? }`); sign-in answers
 * its tokens and the client uses them from then on.
 */

import { type ClientOptions, type Query, type RequestOptions, Transport } from './core.js';

export interface NorahEnvelope<T = Record<string, unknown>> {
  timestamp: string;
  statusCode: number;
  status: string;
  message: string;
  data: T;
  pagination?: { page: number; per_page: number; total: number; totalIsEstimate?: boolean;
    nextCursor?: string | null; [key: string]: unknown };
}

export interface SignIn {
  token: string;
  refreshToken: string;
  tokenExpiryDate: string;
  user_id: number;
  role: 'SUPER' | 'ADMIN' | 'MERCHANT' | string;
  fullName: string;
  email: string;
  [key: string]: unknown;
}

type Body = Record<string, unknown>;
type CallOptions = Pick<RequestOptions, 'idempotencyKey' | 'timeout' | 'signal'>;
interface Paging { page?: number; per_page?: number; cursor?: string; [key: string]: unknown }

const seg = (value: string | number) => encodeURIComponent(String(value));

export class NorahClient {
  readonly transport: Transport;

  constructor(options: ClientOptions = {}) {
    this.transport = new Transport(options, 'norah', '/api/v1');
  }

  request<T = NorahEnvelope>(method: string, path: string, options?: RequestOptions): Promise<T> {
    return this.transport.request<T>(method, path, options);
  }

  private get<T = NorahEnvelope>(path: string, query?: object, options?: CallOptions): Promise<T> {
    return this.request<T>('GET', path, { ...options, query: query as Query });
  }

  private post<T = NorahEnvelope>(path: string, body: object, options?: CallOptions): Promise<T> {
    return this.request<T>('POST', path, { ...options, body });
  }

  readonly auth = {
    adminSignUp: (body: Body, options?: CallOptions) => this.post('/auth/admin-sign-up', body, options),
    /** Signs in and uses the access token for the calls that follow. */
    signIn: async (body: { email: string; password: string }, options?: CallOptions): Promise<SignIn> => {
      const answer = await this.post<SignIn>('/auth/sign-in', body, options);
      this.transport.setAccessToken(answer.token);
      return answer;
    },
    refresh: async (refreshToken: string, options?: CallOptions): Promise<SignIn> => {
      const answer = await this.post<SignIn>('/auth/refresh', { refreshToken }, options);
      this.transport.setAccessToken(answer.token);
      return answer;
    },
    signOut: (options?: CallOptions) => this.post('/auth/sign-out', {}, options),
  };

  readonly merchants = {
    create: (body: Body, options?: CallOptions) => this.post('/admin/create-merchant-account', body, options),
    list: (query: Paging = {}, options?: CallOptions) => this.get('/admin/merchants', query, options),
    get: (merchantId: number | string, options?: CallOptions) =>
      this.get(`/admin/merchants/${seg(merchantId)}`, undefined, options),
    activate: (merchantId: number | string, options?: CallOptions) =>
      this.post(`/admin/merchants/${seg(merchantId)}/activate`, {}, options),
    inactivate: (merchantId: number | string, options?: CallOptions) =>
      this.post(`/admin/merchants/${seg(merchantId)}/inactivate`, {}, options),
  };

  readonly charges = {
    add: (body: Body, options?: CallOptions) => this.post('/merchant/charges/add', body, options),
    list: (query: Paging = {}, options?: CallOptions) => this.get('/merchant/charges', query, options),
  };

  readonly transactions = {
    /** A user payment token (`/transaction/u/generate`): `{ token, url }` in data. */
    generateUserToken: (body: { amount: number | string; currency: string; [k: string]: unknown },
      options?: CallOptions) => this.post('/transaction/u/generate', body, options),
    generateMerchantToken: (body: { amount: number | string; currency: string; [k: string]: unknown },
      options?: CallOptions) => this.post('/transaction/m/generate', body, options),
    confirm: (body: Body, options?: CallOptions) => this.post('/transactions/confirmation', body, options),
    status: (trace: string, options?: CallOptions) => this.post('/transactions/status', { trace }, options),
    cancel: (trace: string, options?: CallOptions) => this.post('/transactions/cancel', { trace }, options),
    user: (query: Paging = {}, options?: CallOptions) => this.get('/transactions/user', query, options),
    merchant: (merchantId: number | string, query: Paging = {}, options?: CallOptions) =>
      this.get(`/transactions/merchant/${seg(merchantId)}`, query, options),
    merchantCharges: (merchantId: number | string, query: Paging = {}, options?: CallOptions) =>
      this.get(`/transactions/merchant-charges/${seg(merchantId)}`, query, options),
    all: (query: Paging & { search?: string; status?: string; currency?: string;
      start_date?: string; end_date?: string } = {}, options?: CallOptions) =>
      this.get('/transactions/all', query, options),
    details: (transactionId: string, options?: CallOptions) =>
      this.get(`/transactions/details/${seg(transactionId)}`, undefined, options),
  };

  readonly dashboard = {
    recentTransactions: (query: Paging & { search?: string } = {}, options?: CallOptions) =>
      this.get('/dashboard/recent-transactions', query, options),
  };
}
