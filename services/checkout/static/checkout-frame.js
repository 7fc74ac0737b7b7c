/*! NorPay checkout frame: runs inside an embedded checkout page (?embed=1).
 * Tells the merchant's page (checkout.js) the page's height and the payment's
 * outcome, by postMessage to the one origin the server signed for this payment.
 */
(function () {
  'use strict';
  var meta = document.querySelector('meta[name="norpay-embed"]');
  if (!meta || window.parent === window) return;
  var origin = meta.getAttribute('data-origin');
  var paymentId = meta.getAttribute('data-payment-id');
  var state = meta.getAttribute('data-state');

  function post(message) {
    message.source = 'norpay-checkout';
    message.paymentId = paymentId;
    window.parent.postMessage(message, origin);
  }

  function size() {
    post({ type: 'resize', height: document.documentElement.scrollHeight });
  }

  function start() {
    size();
    if (typeof ResizeObserver === 'function') new ResizeObserver(size).observe(document.body);
    if (state === 'success' || state === 'cancel' || state === 'failed') {
      post({ type: state, status: meta.getAttribute('data-status') });
    }
    // Waiting for the customer's phone: /v1/checkout-wait.js opens the page again once
    // the payment has moved on, and this script then posts the outcome.
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
