// Compiled, never run (npm run typecheck): the component's payment is the SDK's type.
import type { WidgetPayment } from '@norchain/sdk';
import type { NorPayCheckoutProps, NorPayPayment } from '../types/index.js';

const fromSdk = {} as WidgetPayment;
export const same: NorPayPayment = fromSdk;
export const back: WidgetPayment = same;
// Amounts are strings of minor units, as the API answers them.
export const amount: string = same.amount;
export const onSuccess: NorPayCheckoutProps['onSuccess'] = (payment) => {
  const id: string = payment.paymentId;
  void id;
};
