// NorPayCheckout with the real checkout.js (services/checkout/static/checkout.js): the
// script tag it adds is "loaded" by evaluating that file, the gateway is a stubbed
// fetch, and the embedded page's messages are dispatched as the browser would.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createElement } from 'react';
import { act, cleanup, render } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { NorPayCheckout, DEFAULT_SCRIPT_SRC } from '../src/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CHECKOUT_JS = readFileSync(
  resolve(HERE, '../../../services/checkout/static/checkout.js'), 'utf8');
const GATEWAY = 'https://pay.example.com';
const SRC = `${GATEWAY}/v1/checkout.js`;
const KEY = 'nk_pub_' + 'a1B2c3D4e5'.repeat(4);
const PAYMENT_ID = 'pay_abcdefghijklmnopqrstuvwx';
const EMBED = `/checkout/${PAYMENT_ID}?embed=1&origin=http%3A%2F%2Flocalhost%3A3000&sig=abc`;

let scripts;
let requests;
let statusNow;

function respond(status, body) {
  return Promise.resolve(new Response(JSON.stringify(body), {
    status, headers: { 'Content-Type': 'application/json' },
  }));
}

beforeEach(() => {
  delete window.NorPay;
  scripts = [];
  requests = [];
  statusNow = 'pending';
  // checkout.js arrives when the component adds its script tag.
  const append = document.head.appendChild.bind(document.head);
  vi.spyOn(document.head, 'appendChild').mockImplementation((node) => {
    const added = append(node);
    if (node.tagName === 'SCRIPT') {
      scripts.push(node.src);
      queueMicrotask(() => {
        new Function(CHECKOUT_JS).call(window);
        node.dispatchEvent(new Event('load'));
      });
    }
    return added;
  });
  vi.stubGlobal('fetch', vi.fn((url, init = {}) => {
    const u = new URL(url);
    requests.push({ method: init.method || 'GET', path: u.pathname, key: u.searchParams.get('key'),
      body: init.body ? JSON.parse(init.body) : null, credentials: init.credentials });
    if (u.pathname === '/v1/widget/payments' && init.method === 'POST') {
      return respond(201, { paymentId: PAYMENT_ID, status: 'pending', embedPath: EMBED,
        amount: '1000000000000000000', currency: 'NOR' });
    }
    if (u.pathname === `/v1/widget/payments/${PAYMENT_ID}`) {
      return respond(200, { paymentId: PAYMENT_ID, status: statusNow,
        amount: '1000000000000000000', currency: 'NOR', description: 'Product purchase' });
    }
    return respond(404, { error: { code: 'not_found', message: 'not found' } });
  }));
});

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

function mountSeedExample(extra = {}) {
  const onSuccess = vi.fn();
  const onCancel = vi.fn();
  const onError = vi.fn();
  const view = render(createElement(NorPayCheckout, {
    apiKey: KEY, amount: '1000000000000000000', currency: 'NOR',
    description: 'Product purchase', onSuccess, onCancel, onError, scriptSrc: SRC, ...extra,
  }));
  return { view, onSuccess, onCancel, onError };
}

async function frameOf(view) {
  await vi.waitFor(() => expect(view.container.querySelector('iframe')).not.toBeNull());
  return view.container.querySelector('iframe');
}

function post(frame, data, origin = GATEWAY) {
  window.dispatchEvent(new MessageEvent('message', {
    data: { source: 'norpay-checkout', paymentId: PAYMENT_ID, ...data },
    origin, source: frame.contentWindow,
  }));
}

describe('NorPayCheckout', () => {
  it('loads checkout.js once and shows the payment in an iframe from the gateway', async () => {
    const { view } = mountSeedExample();
    const frame = await frameOf(view);
    expect(scripts).toEqual([SRC]);
    expect(frame.getAttribute('src')).toBe(GATEWAY + EMBED);
    expect(frame.title).toBe('NorPay checkout');
    expect(requests[0]).toEqual({
      method: 'POST', path: '/v1/widget/payments', key: KEY, credentials: 'omit',
      body: { amount: '1000000000000000000', currency: 'NOR', description: 'Product purchase' },
    });
  });

  it('calls onSuccess with the payment once the gateway says it is completed', async () => {
    const { view, onSuccess, onCancel } = mountSeedExample();
    const frame = await frameOf(view);
    statusNow = 'completed';
    await act(async () => post(frame, { type: 'success', status: 'completed' }));
    await vi.waitFor(() => expect(onSuccess).toHaveBeenCalledTimes(1));
    expect(onSuccess.mock.calls[0][0]).toMatchObject({ paymentId: PAYMENT_ID, status: 'completed' });
    expect(onCancel).not.toHaveBeenCalled();
    expect(requests.at(-1)).toMatchObject({ method: 'GET', path: `/v1/widget/payments/${PAYMENT_ID}` });
  });

  it('ignores messages from another origin or another window', async () => {
    const { view, onSuccess } = mountSeedExample();
    const frame = await frameOf(view);
    statusNow = 'completed';
    post(frame, { type: 'success' }, 'https://evil.example');
    window.dispatchEvent(new MessageEvent('message', {
      data: { source: 'norpay-checkout', paymentId: PAYMENT_ID, type: 'success' },
      origin: GATEWAY, source: window,
    }));
    await new Promise((r) => setTimeout(r, 50));
    expect(onSuccess).not.toHaveBeenCalled();
    expect(requests).toHaveLength(1); // nothing was even looked up
  });

  it('does not call onSuccess when the gateway does not confirm the payment', async () => {
    const { view, onSuccess } = mountSeedExample();
    const frame = await frameOf(view);
    statusNow = 'pending'; // a forged or early "success"
    post(frame, { type: 'success' });
    await vi.waitFor(() => expect(requests).toHaveLength(2));
    await new Promise((r) => setTimeout(r, 20));
    expect(onSuccess).not.toHaveBeenCalled();
  });

  it('calls onCancel when the customer cancels in the frame', async () => {
    const { view, onCancel, onSuccess } = mountSeedExample();
    const frame = await frameOf(view);
    statusNow = 'canceled';
    post(frame, { type: 'cancel', status: 'canceled' });
    await vi.waitFor(() => expect(onCancel).toHaveBeenCalledTimes(1));
    expect(onSuccess).not.toHaveBeenCalled();
  });

  it('resizes the iframe to the height the page reports', async () => {
    const { view } = mountSeedExample();
    const frame = await frameOf(view);
    post(frame, { type: 'resize', height: 812.4 });
    expect(frame.style.height).toBe('813px');
  });

  it('refuses a secret key before anything is sent', async () => {
    const { view, onError } = mountSeedExample({ apiKey: 'nk_' + 'x'.repeat(40) });
    await vi.waitFor(() => expect(onError).toHaveBeenCalledTimes(1));
    expect(onError.mock.calls[0][0].message).toMatch(/publishable key \(nk_pub_/);
    expect(requests).toHaveLength(0);
    expect(view.container.querySelector('iframe')).toBeNull();
  });

  it('shows the gateway\'s error and calls onError', async () => {
    vi.stubGlobal('fetch', vi.fn(() => respond(400, {
      error: { code: 'validation_error', message: 'amount: must be a whole number' } })));
    const { view, onError } = mountSeedExample({ amount: '12' });
    await vi.waitFor(() => expect(onError).toHaveBeenCalledTimes(1));
    expect(onError.mock.calls[0][0]).toMatchObject({ code: 'validation_error', status: 400 });
    expect(view.container.textContent).toContain('amount: must be a whole number');
  });

  it('removes the checkout when it unmounts, and calls nothing afterwards', async () => {
    const { view, onSuccess } = mountSeedExample();
    const frame = await frameOf(view);
    view.unmount();
    statusNow = 'completed';
    post(frame, { type: 'success' });
    await new Promise((r) => setTimeout(r, 20));
    expect(onSuccess).not.toHaveBeenCalled();
  });

  it('defaults to the seed\'s checkout.js address', () => {
    expect(DEFAULT_SCRIPT_SRC).toBe('https://checkout.norpay.com/v1/checkout.js');
  });
});
