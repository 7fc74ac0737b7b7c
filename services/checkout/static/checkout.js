/*! NorPay checkout.js: the embedded checkout widget of norgate.
 *
 *   <script src="https://<your norgate host>/v1/checkout.js"></script>
 *   <div id="norpay-checkout"></div>
 *   <script>
 *     NorPay.Checkout({
 *       apiKey: 'nk_pub_...',            // a PUBLISHABLE key: never a secret nk_ key
 *       amount: '1000000000000000000',   // minor units (wei for NOR)
 *       currency: 'NOR',
 *       description: 'Product purchase',
 *       onSuccess: function (payment) {},
 *       onCancel: function () {}
 *     }).mount('#norpay-checkout');
 *   </script>
 *
 * mount() creates the payment through the gateway this script was loaded from,
 * then shows that payment's hosted checkout page in an iframe. The page tells this
 * script the outcome with postMessage; the script accepts messages only from that
 * iframe and that origin, reads the payment back from the gateway, and calls
 * onSuccess(payment) when it is completed or onCancel() when it was canceled.
 * Optional: onError(error), metadata (object), baseUrl (the gateway's origin, for
 * when the script is bundled rather than loaded from the gateway).
 */
(function (global) {
  'use strict';

  var VERSION = '1.0.0';
  var PUBLISHABLE = /^nk_pub_[A-Za-z0-9]{20,100}$/;
  var SOURCE = 'norpay-checkout';
  var doc = global.document;
  var current = doc && doc.currentScript;
  var SCRIPT_ORIGIN = null;
  try {
    if (current && current.src) SCRIPT_ORIGIN = new URL(current.src, doc.baseURI).origin;
  } catch (e) { SCRIPT_ORIGIN = null; }

  function fail(message) {
    return new Error('NorPay: ' + message);
  }

  function originOf(url) {
    try { return new URL(url).origin; } catch (e) { return null; }
  }

  function check(options) {
    if (!options || typeof options !== 'object') throw fail('Checkout(options) needs an options object');
    if (typeof options.apiKey !== 'string' || !PUBLISHABLE.test(options.apiKey)) {
      throw fail('apiKey must be a publishable key (nk_pub_...); a secret key must never be put in a web page');
    }
    var amount = options.amount;
    if (!((typeof amount === 'string' && /^[0-9]+$/.test(amount)) ||
          (typeof amount === 'number' && isFinite(amount) && amount % 1 === 0 && amount > 0))) {
      throw fail('amount must be a whole number of minor units, as a string (e.g. "1000000000000000000")');
    }
    if (typeof options.currency !== 'string' || !options.currency) throw fail('currency is required (e.g. "NOR")');
    ['onSuccess', 'onCancel', 'onError'].forEach(function (name) {
      if (options[name] != null && typeof options[name] !== 'function') throw fail(name + ' must be a function');
    });
  }

  function Checkout(options) {
    if (!(this instanceof Checkout)) return new Checkout(options);
    check(options);
    this.options = options;
    this.base = options.baseUrl ? originOf(options.baseUrl) : SCRIPT_ORIGIN;
    if (!this.base) throw fail('cannot tell the gateway address: load checkout.js from it, or pass baseUrl');
    this.payment = null;
    this.element = null;
    this.frame = null;
    this._settled = false;
    this._generation = 0;
    this._onMessage = this._onMessage.bind(this);
  }

  Checkout.prototype._url = function (path) {
    return this.base + path + (path.indexOf('?') < 0 ? '?' : '&') + 'key=' +
      encodeURIComponent(this.options.apiKey);
  };

  Checkout.prototype._request = function (method, path, body) {
    var init = { method: method, mode: 'cors', credentials: 'omit', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    var base = this.base;
    return global.fetch(this._url(path), init).catch(function () {
      // A refused origin looks like a network failure to a page (no CORS headers).
      var err = fail('could not reach the checkout at ' + base + ': check that this page\'s origin (' +
        global.location.origin + ') is one of the publishable key\'s allowed origins');
      err.code = 'network_error';
      throw err;
    }).then(function (resp) {
      return resp.json().catch(function () { return null; }).then(function (data) {
        if (!resp.ok) {
          var err = fail((data && data.error && data.error.message) || ('the gateway answered ' + resp.status));
          err.status = resp.status;
          err.code = data && data.error && data.error.code;
          throw err;
        }
        return data;
      });
    });
  };

  Checkout.prototype._status = function (text, isError) {
    if (!this.element) return;
    var note = doc.createElement('p');
    note.className = isError ? 'norpay-checkout-error' : 'norpay-checkout-status';
    note.setAttribute('role', isError ? 'alert' : 'status');
    note.textContent = text;
    this.element.replaceChildren(note);
  };

  Checkout.prototype._error = function (err) {
    this._status(err.message || String(err), true);
    if (typeof this.options.onError === 'function') this.options.onError(err);
    else if (global.console) global.console.error(err);
  };

  /** Create the payment and show its checkout in `target` (a selector or an element). */
  Checkout.prototype.mount = function (target) {
    var element = typeof target === 'string' ? doc.querySelector(target) : target;
    if (!element || element.nodeType !== 1) throw fail('no element matches ' + String(target));
    this.unmount();
    this.element = element;
    this._settled = false;
    var generation = ++this._generation;
    var self = this;
    var o = this.options;
    var body = { amount: String(o.amount), currency: o.currency };
    if (o.description != null) body.description = String(o.description);
    if (o.metadata != null) body.metadata = o.metadata;
    this._status('Loading checkout…');
    global.addEventListener('message', this._onMessage);
    this._request('POST', '/v1/widget/payments', body).then(function (payment) {
      if (generation !== self._generation) return;
      self.payment = payment;
      var frame = doc.createElement('iframe');
      frame.src = self.base + payment.embedPath;
      frame.title = 'NorPay checkout';
      frame.name = 'norpay-checkout-' + payment.paymentId;
      frame.setAttribute('allow', 'payment');
      frame.style.cssText = 'width:100%;min-height:420px;height:640px;border:0;display:block;';
      self.frame = frame;
      self.element.replaceChildren(frame);
    }).catch(function (err) {
      if (generation === self._generation) self._error(err);
    });
    return this;
  };

  /** Remove the checkout from the page; no callback is called afterwards. */
  Checkout.prototype.unmount = function () {
    this._generation++;
    global.removeEventListener('message', this._onMessage);
    if (this.element) this.element.replaceChildren();
    this.element = null;
    this.frame = null;
    return this;
  };

  Checkout.prototype._onMessage = function (event) {
    var frame = this.frame;
    var data = event.data;
    // Only the iframe we made, served by the gateway, about the payment we made.
    if (!frame || event.origin !== this.base || event.source !== frame.contentWindow) return;
    if (!data || typeof data !== 'object' || data.source !== SOURCE) return;
    if (!this.payment || data.paymentId !== this.payment.paymentId) return;
    if (data.type === 'resize' && typeof data.height === 'number' && data.height > 0) {
      frame.style.height = Math.min(Math.max(Math.ceil(data.height), 200), 4000) + 'px';
    } else if (data.type === 'success' || data.type === 'cancel' || data.type === 'failed') {
      this._settle(data.type);
    }
  };

  Checkout.prototype._settle = function (kind) {
    if (this._settled) return;
    this._settled = true;
    var self = this;
    var generation = this._generation;
    var o = this.options;
    // The message says what the page showed; the gateway says what is true.
    this._request('GET', '/v1/widget/payments/' + encodeURIComponent(this.payment.paymentId))
      .then(function (payment) {
        if (generation !== self._generation) return;
        if (payment.status === 'completed') {
          if (typeof o.onSuccess === 'function') o.onSuccess(payment);
        } else if (payment.status === 'canceled') {
          if (typeof o.onCancel === 'function') o.onCancel();
        } else if (kind === 'failed' || payment.status === 'failed') {
          var err = fail('payment ' + payment.status + (payment.failureReason ? ': ' + payment.failureReason : ''));
          err.payment = payment;
          if (typeof o.onError === 'function') o.onError(err);
        } else {
          self._settled = false; // not final yet: a later message decides
        }
      })
      .catch(function (err) {
        self._settled = false;
        if (generation === self._generation && typeof o.onError === 'function') o.onError(err);
      });
  };

  var NorPay = global.NorPay || {};
  NorPay.Checkout = Checkout;
  NorPay.version = VERSION;
  global.NorPay = NorPay;
})(typeof window !== 'undefined' ? window : this);
