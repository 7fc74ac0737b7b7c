import type { CSSProperties, ReactElement } from 'react';

import type { WidgetPayment } from '@norchain/sdk';

/** A payment as the widget reports it (GET /v1/widget/payments/{paymentId}): the SDK's
 * type, generated from the gateway's OpenAPI document. */
export type NorPayPayment = WidgetPayment;

export interface NorPayCheckoutProps {
  /** A publishable key (nk_pub_...). Never a secret key. */
  apiKey: string;
  /** Minor units (wei for NOR), e.g. "1000000000000000000". */
  amount: string | number;
  currency: string;
  description?: string;
  metadata?: Record<string, unknown>;
  onSuccess?: (payment: NorPayPayment) => void;
  onCancel?: () => void;
  onError?: (error: Error & { code?: string; status?: number }) => void;
  /** checkout.js on your norgate gateway; default DEFAULT_SCRIPT_SRC. */
  scriptSrc?: string;
  className?: string;
  style?: CSSProperties;
}

export declare const DEFAULT_SCRIPT_SRC: string;
export declare function loadCheckoutScript(src?: string): Promise<unknown>;
export declare function NorPayCheckout(props: NorPayCheckoutProps): ReactElement;
export default NorPayCheckout;
