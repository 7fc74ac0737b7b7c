// @norchain/react: the NorPay embedded checkout as a React component.
//
// NorPayCheckout loads checkout.js from the NorPay gateway (once per page) and mounts
// NorPay.Checkout in its own <div>. The payment is created when the component mounts
// and again whenever apiKey, amount, currency, description or metadata change;
// the callbacks may change freely without creating a new payment.
import { createElement, useEffect, useRef } from 'react';

export const DEFAULT_SCRIPT_SRC = 'https://checkout.norpay.com/v1/checkout.js';

const loading = new Map(); // script URL -> Promise of window.NorPay

function absolute(src) {
  return new URL(src, window.location.href).href;
}

/** Load checkout.js from `src` (once per URL) and resolve with window.NorPay. */
export function loadCheckoutScript(src = DEFAULT_SCRIPT_SRC) {
  if (typeof window === 'undefined') {
    return Promise.reject(new Error('NorPay: checkout.js runs in a browser only'));
  }
  const url = absolute(src);
  if (window.NorPay && typeof window.NorPay.Checkout === 'function') {
    return Promise.resolve(window.NorPay);
  }
  if (!loading.has(url)) {
    const promise = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = url;
      script.async = true;
      script.addEventListener('load', () => {
        if (window.NorPay && typeof window.NorPay.Checkout === 'function') resolve(window.NorPay);
        else reject(new Error(`NorPay: ${url} did not define NorPay.Checkout`));
      });
      script.addEventListener('error', () => {
        loading.delete(url); // a later mount may try again
        script.remove();
        reject(new Error(`NorPay: could not load ${url}`));
      });
      document.head.appendChild(script);
    });
    loading.set(url, promise);
  }
  return loading.get(url);
}

/**
 * <NorPayCheckout apiKey="nk_pub_..." amount="1000000000000000000" currency="NOR"
 *   description="Product purchase" onSuccess={(payment) => ...} onCancel={() => ...} />
 *
 * Extra props: onError(error), metadata (object), scriptSrc (checkout.js on your
 * norgate gateway, default DEFAULT_SCRIPT_SRC), className, style.
 */
export function NorPayCheckout(props) {
  const { apiKey, amount, currency, description, metadata, scriptSrc, className, style } = props;
  const holder = useRef(null);
  const callbacks = useRef(props);
  callbacks.current = props;
  const metadataKey = metadata == null ? '' : JSON.stringify(metadata);

  useEffect(() => {
    let live = true;
    let checkout = null;
    const src = scriptSrc || DEFAULT_SCRIPT_SRC;
    const fail = (error) => {
      if (!live) return;
      if (typeof callbacks.current.onError === 'function') callbacks.current.onError(error);
      else console.error(error);
    };
    loadCheckoutScript(src).then((NorPay) => {
      if (!live) return;
      checkout = NorPay.Checkout({
        apiKey,
        amount,
        currency,
        description,
        metadata: metadataKey ? JSON.parse(metadataKey) : undefined,
        baseUrl: new URL(absolute(src)).origin,
        onSuccess: (payment) => {
          if (live && typeof callbacks.current.onSuccess === 'function') {
            callbacks.current.onSuccess(payment);
          }
        },
        onCancel: () => {
          if (live && typeof callbacks.current.onCancel === 'function') callbacks.current.onCancel();
        },
        onError: fail,
      });
      checkout.mount(holder.current);
    }).catch(fail);
    return () => {
      live = false;
      if (checkout) checkout.unmount();
    };
  }, [apiKey, String(amount), currency, description, metadataKey, scriptSrc]);

  return createElement('div', { ref: holder, className, style, 'data-norpay-checkout': '' });
}

export default NorPayCheckout;
