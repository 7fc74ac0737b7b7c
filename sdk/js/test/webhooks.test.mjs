// verifyWebhook is the seed's function; verifyHeaders is Standard Webhooks. Both are
// checked against node:crypto, which the seed's own example uses.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

import {
  WebhookVerificationError, sign, standardSignature, verifyHeaders, verifyWebhook,
} from '../dist/esm/index.js';
import { hmacSha256, sha256 } from '../dist/esm/sha256.js';

// The seed's verifyWebhook, verbatim.
function seedVerifyWebhook(payload, signature, secret) {
  const expectedSignature = crypto.createHmac('sha256', secret).update(payload).digest('hex');
  return signature === expectedSignature;
}

test('SHA-256 and HMAC-SHA256 equal node:crypto for every length around the block edges', () => {
  for (let n = 0; n < 300; n += 1) {
    const data = crypto.randomBytes(n);
    assert.equal(Buffer.from(sha256(data)).toString('hex'),
      crypto.createHash('sha256').update(data).digest('hex'), `length ${n}`);
    const key = crypto.randomBytes(n % 130);
    assert.equal(Buffer.from(hmacSha256(key, data)).toString('hex'),
      crypto.createHmac('sha256', key).update(data).digest('hex'), `length ${n}`);
  }
});

test("verifyWebhook answers as the seed's function does", () => {
  const secret = `whsec_${crypto.randomBytes(24).toString('base64')}`;
  const payload = JSON.stringify({ event: 'payment.completed', data: { paymentId: 'pay_1', amount: '10' } });
  const good = crypto.createHmac('sha256', secret).update(payload).digest('hex');
  assert.equal(sign(payload, secret), good);
  for (const [body, signature] of [[payload, good], [payload, good.replace(/.$/, '0')],
    [payload, ''], [`${payload} `, good], [payload, 'x'.repeat(64)]]) {
    assert.equal(verifyWebhook(body, signature, secret), seedVerifyWebhook(body, signature, secret),
      `${body.length} ${signature}`);
  }
  assert.equal(verifyWebhook(Buffer.from(payload), good, secret), true); // the raw body as bytes
  assert.equal(verifyWebhook(payload, good.toUpperCase(), secret), true);
  assert.equal(verifyWebhook(payload, undefined, secret), false);
  assert.equal(verifyWebhook(payload, good, ''), false);
  // The raw-body pitfall: parsed and re-serialised, the bytes differ and it fails.
  const pretty = JSON.stringify(JSON.parse(payload), null, 2);
  assert.equal(verifyWebhook(pretty, good, secret), false);
  assert.throws(() => verifyWebhook(JSON.parse(payload), good, secret), TypeError);
});

test('verifyHeaders checks Standard Webhooks, the tolerance and rotated secrets', () => {
  const secret = `whsec_${crypto.randomBytes(24).toString('base64')}`;
  const old = `whsec_${crypto.randomBytes(24).toString('base64')}`;
  const payload = '{"event":"payment.completed","data":{"paymentId":"pay_9"}}';
  const id = 'evt_1';
  const now = 1_700_000_000;
  const key = Buffer.from(secret.slice(6), 'base64');
  const expected = crypto.createHmac('sha256', key).update(`${id}.${now}.${payload}`).digest('base64');
  assert.equal(standardSignature(id, now, payload, secret), `v1,${expected}`);
  const headers = { 'Webhook-Id': id, 'webhook-timestamp': String(now),
    'webhook-signature': `v1,bogus v1,${expected}` };
  assert.deepEqual(verifyHeaders(payload, headers, secret, { now }),
    { event: 'payment.completed', data: { paymentId: 'pay_9' } });
  assert.deepEqual(verifyHeaders(payload, new Headers(headers), [old, secret], { now }).event,
    'payment.completed');
  assert.throws(() => verifyHeaders(payload, headers, old, { now }), WebhookVerificationError);
  assert.throws(() => verifyHeaders(payload, headers, secret, { now: now + 301 }),
    /more than 300 seconds/);
  assert.equal(verifyHeaders(payload, headers, secret, { now: now + 301, tolerance: 600 }).event,
    'payment.completed');
  assert.throws(() => verifyHeaders(`${payload} `, headers, secret, { now }), /No webhook-signature/);
  assert.throws(() => verifyHeaders(payload, { 'webhook-id': id }, secret, { now }), /Missing/);
  assert.throws(() => verifyHeaders(payload, headers, 'whsec_not*base64', { now }), /not a whsec_/);
});
