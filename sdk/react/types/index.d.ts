import type { CSSProperties, ReactElement } from 'react';

/** A payment as the widget reports it (GET /v1/widget/payments/{paymentId}). */
export interface NorPayPayment {
  paymentId: string;
  /** Minor units as a string (wei for NOR). */
  amount: string;
  currency: string;
  status: 'pending' | 'processing' | 'completed' | 'failed' | 'canceled' | 'refunded';
  description: string | null;
  paymentMethod: string | null;
  transactionHash: string | null;
  failureReason: string | null;
  createdAt: string | null;
  completedAt: string | null;
}

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
