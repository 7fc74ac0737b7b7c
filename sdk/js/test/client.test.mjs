// The client against a local HTTP server that answers as the gateway does: retries
// with one Idempotency-Key, Retry-After, timeouts, typed errors, no secret shown.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { inspect } from 'node:util';

import {
  AuthenticationError, ConnectionError, InvalidRequestError, NorLedgerClient, NorPayClient,
  NorPayError, NorahClient, PaymentFailedError, PricesClient, RateLimitError, ServerError,
  TimeoutError,
} from '../dist/esm/index.js';

const KEY = 'nk_test_secret_key_never_shown';

/** A server whose answers are `script(request, body, n)`; `seen` keeps every request. */
async function server(script) {
  const seen = [];
  const srv = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', async () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body: raw });
      const out = await script(req, raw, seen.length);
      if (out === 'hang') return; // never answer
      res.writeHead(out.status ?? 200, { 'Content-Type': 'application/json', ...(out.headers ?? {}) });
      res.end(typeof out.body === 'string' ? out.body : JSON.stringify(out.body));
    });
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${srv.address().port}`;
  return { seen, baseUrl, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }) };
}

const ok = (result) => ({ body: { status: '1', message: 'OK', result } });

test('create sends camelCase JSON with the key, and answers the result', async () => {
  const s = await server(() => ok({ paymentId: 'pay_1', amount: '1000000000000000000', checkoutUrl: 'http://c/1' }));
  try {
    const norpay = new NorPayClient({ apiKey: KEY, baseUrl: `${s.baseUrl}/api/v2/` });
    const payment = await norpay.payments.create({
      amount: 1000000000000000000n, currency: 'NOR', successUrl: 'https://shop/ok',
    });
    assert.equal(payment.checkoutUrl, 'http://c/1');
    const [req] = s.seen;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/api/v2/payments/create');
    assert.equal(req.headers['x-api-key'], KEY);
    assert.match(req.headers['idempotency-key'], /^norchain-[0-9a-f-]{32,36}$/);
    // A bigint goes out as its digits: wei never pass through a double.
    assert.deepEqual(JSON.parse(req.body),
      { amount: '1000000000000000000', currency: 'NOR', successUrl: 'https://shop/ok' });
  } finally { await s.close(); }
});

test('payments.list asks for a page, or the cursor a page gave', async () => {
  const page = { payments: [{ paymentId: 'pay_2' }], pagination: { page: 1, per_page: 1, total: 2, nextCursor: 'c2' } };
  const s = await server(() => ok(page));
  try {
    const norpay = new NorPayClient({ apiKey: KEY, baseUrl: `${s.baseUrl}/api/v2` });
    const first = await norpay.payments.list({ per_page: 1, status: 'completed' });
    assert.equal(first.payments[0].paymentId, 'pay_2');
    await norpay.payments.list({ cursor: first.pagination.nextCursor ?? '' });
    assert.deepEqual(s.seen.map((r) => [r.method, r.url]), [
      ['GET', '/api/v2/payments?per_page=1&status=completed'], ['GET', '/api/v2/payments?cursor=c2']]);
  } finally { await s.close(); }
});

test('a 503 and a network error are retried with the same Idempotency-Key', async () => {
  const s = await server((_req, _body, n) => (n < 3
    ? { status: 503, body: { status: '0', message: 'Error! Service unavailable', result: null } }
    : ok({ planId: 'plan_1' })));
  try {
    const norpay = new NorPayClient({ apiKey: KEY, baseUrl: s.baseUrl, backoff: 5 });
    const plan = await norpay.plans.create({ name: 'Pro', amount: '5', currency: 'NOR', interval: 'month' });
    assert.equal(plan.planId, 'plan_1');
    assert.equal(s.seen.length, 3);
    assert.equal(new Set(s.seen.map((r) => r.headers['idempotency-key'])).size, 1);
    // Two calls: two keys.
    await norpay.plans.create({ name: 'Pro', amount: '5', currency: 'NOR', interval: 'month' });
    assert.notEqual(s.seen[3].headers['idempotency-key'], s.seen[0].headers['idempotency-key']);
  } finally { await s.close(); }
});

test('429 waits the Retry-After it is given; past the retries it is a RateLimitError', async () => {
  const limited = { status: 429, headers: { 'Retry-After': '1', 'X-Error-Code': 'rate_limited' },
    body: { status: '0', message: 'Error! Too many requests', result: null } };
  const s = await server((_r, _b, n) => (n === 1 ? limited : ok({ paymentId: 'pay_2' })));
  try {
    const norpay = new NorPayClient({ apiKey: KEY, baseUrl: s.baseUrl, backoff: 1 });
    const started = Date.now();
    assert.equal((await norpay.payments.get('pay_2')).paymentId, 'pay_2');
    assert.ok(Date.now() - started >= 1000, 'waited the second Retry-After asked for');
  } finally { await s.close(); }
  const always = await server(() => limited);
  try {
    const norpay = new NorPayClient({ apiKey: KEY, baseUrl: always.baseUrl, maxRetries: 0 });
    const err = await norpay.payments.get('pay_3').catch((e) => e);
    assert.ok(err instanceof RateLimitError && err instanceof NorPayError);
    assert.equal(err.retryAfter, 1);
    assert.equal(err.code, 'rate_limited');
    assert.equal(always.seen.length, 1);
  } finally { await always.close(); }
});

test("errors carry the API's message, status, code and request id, and 4xx are not retried", async () => {
  const s = await server((req) => ({
    status: req.url.includes('refund') ? 402 : 400,
    headers: { 'X-Request-ID': 'req_42', 'X-Error-Code': 'validation_error' },
    body: { status: '0', message: req.url.includes('refund')
      ? 'Error! Insufficient balance' : 'Error! Amount must be greater than 0', result: null },
  }));
  try {
    const norpay = new NorPayClient({ apiKey: KEY, baseUrl: s.baseUrl, backoff: 1 });
    const bad = await norpay.payments.create({ amount: '0', currency: 'NOR' }).catch((e) => e);
    assert.ok(bad instanceof InvalidRequestError);
    assert.equal(bad.message, 'Error! Amount must be greater than 0');
    assert.equal(bad.status, 400);
    assert.equal(bad.requestId, 'req_42');
    assert.equal(bad.code, 'validation_error');
    const refused = await norpay.payments.refund('pay_1', { amount: '5' }).catch((e) => e);
    assert.ok(refused instanceof PaymentFailedError);
    assert.equal(refused.message, 'Error! Insufficient balance');
    assert.equal(s.seen.length, 2); // neither retried
  } finally { await s.close(); }
});

test('a slow answer is a TimeoutError after its retries; a closed port a ConnectionError', async () => {
  const s = await server(() => 'hang');
  try {
    const norpay = new NorPayClient({ apiKey: KEY, baseUrl: s.baseUrl, timeout: 100, maxRetries: 1, backoff: 1 });
    const started = Date.now();
    const err = await norpay.payments.get('pay_1').catch((e) => e);
    assert.ok(err instanceof TimeoutError && err instanceof ConnectionError, String(err));
    assert.equal(s.seen.length, 2);
    assert.ok(Date.now() - started < 3000);
  } finally { await s.close(); }
  const gone = new NorPayClient({ apiKey: KEY, baseUrl: 'http://127.0.0.1:9', maxRetries: 0 });
  const err = await gone.payments.get('pay_1').catch((e) => e);
  assert.ok(err instanceof ConnectionError && !(err instanceof TimeoutError), String(err));
});

test('the key is never shown: not in JSON, inspect or an error', async () => {
  const s = await server(() => ({ status: 401, body: { status: '0', message: 'Error! Invalid API key', result: null } }));
  try {
    const norpay = new NorPayClient({ apiKey: KEY, baseUrl: s.baseUrl });
    const err = await norpay.payments.get('pay_1').catch((e) => e);
    assert.ok(err instanceof AuthenticationError);
    for (const text of [JSON.stringify(norpay), inspect(norpay, { depth: 10 }), inspect(err, { depth: 10 }),
      JSON.stringify(err)]) {
      assert.ok(!text.includes(KEY), text);
    }
  } finally { await s.close(); }
  assert.throws(() => new NorPayClient({ baseUrl: 'http://x' }), /apiKey/);
  assert.throws(() => new NorPayClient({ apiKey: KEY, baseUrl: 'ftp://x' }), /http/);
});

test('ledger entries, NORAH and Prices speak their own envelopes', async () => {
  const s = await server((req) => {
    if (req.url.startsWith('/api/v2/ledger/entries')) {
      return ok({ entries: [{ display: 'Dr Customer NOR Wallet 1.00 NOR' }], pagination: { total: 1 } });
    }
    if (req.url === '/api/v1/auth/sign-in') return { body: { token: 'jwt.a.b', refreshToken: 'r' } };
    if (req.url.startsWith('/api/v1/')) {
      return { body: { statusCode: 200, status: 'OK', message: 'Request processed successfully',
        data: [{ trace: 't' }], pagination: { page: 1, per_page: 10, total: 1 } } };
    }
    if (req.method === 'GET' && req.url === '/prices/app_1/price_1') return { body: { data: { id: 'price_1' } } };
    return { status: 404, body: { error: { code: 'not_found', message: 'Price not found' } } };
  });
  try {
    const norledger = new NorLedgerClient({ apiKey: KEY, baseUrl: s.baseUrl });
    const entries = await norledger.entries.list({ referenceType: 'payment', referenceId: 'pay_1' });
    assert.equal(entries.entries[0].display, 'Dr Customer NOR Wallet 1.00 NOR');
    assert.equal(s.seen.at(-1).url, '/api/v2/ledger/entries?referenceType=payment&referenceId=pay_1');

    const norah = new NorahClient({ baseUrl: s.baseUrl });
    await norah.auth.signIn({ email: 'a@b.c', password: 'pw' });
    const listed = await norah.transactions.user({ page: 1, per_page: 10 });
    assert.equal(listed.data[0].trace, 't');
    assert.equal(s.seen.at(-1).headers.authorization, 'Bearer jwt.a.b');

    const prices = new PricesClient({ apiKey: KEY, baseUrl: s.baseUrl });
    assert.equal((await prices.get('app_1', 'price_1')).id, 'price_1');
    const missing = await prices.get('app_1', 'nope').catch((e) => e);
    assert.equal(missing.status, 404);
    assert.equal(missing.message, 'Price not found');
    assert.equal(missing.code, 'not_found');
  } finally { await s.close(); }
});
