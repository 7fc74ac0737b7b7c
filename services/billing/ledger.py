"""NorLedger posting rules: which balanced journal transaction each event posts.

Accounts (per merchant and currency; docs/billing.md explains each):

    customer_wallet        asset           "Customer NOR Wallet": funds collected from
                                           customers, held for the merchant
    revenue:<product>      revenue         "Revenue - Product Sales", "Revenue - <plan>"
    fees                   expense         "Fees - Processing": charges kept by norgate
    refunds                contra_revenue  "Refunds": money given back

    available_balance      asset           funds past their settlement delay, which a
                                           payout may take (docs/payouts.md)
    payouts_in_transit     asset           payouts on their way to a settlement account
    settlement_bank        asset           what reached the merchant's settlement account
    payout_fees            expense         "Fees - Payouts"

The merchant's balance is three of these accounts (docs/payouts.md): pending is the
customer wallet, available the available balance, in transit the payouts in transit.

Postings (all from checkout's payment events, exactly once thanks to the inbox):

    payment.completed  (payment)  Dr customer_wallet  amount / Cr revenue:<product> amount
                       (fee)      Dr fees             charges / Cr customer_wallet charges
    payment.refunded   (refund)   Dr refunds          delta   / Cr customer_wallet delta
       delta = refundedAmount of the event - refunds already posted for the payment, so
       partial and full refund events add up to what was refunded in any order.

Postings of money out (services/billing/payouts.py), each once per payout:

    release        net > 0    Dr available_balance  / Cr customer_wallet    the due net
                   net < 0    Dr customer_wallet    / Cr available_balance
    payout         created    Dr payouts_in_transit / Cr available_balance  amount
    payout_fee     created    Dr payout_fees        / Cr available_balance  fee
    payout_paid    paid       Dr settlement_bank    / Cr payouts_in_transit amount
    (reversals)    failed or canceled before being paid: the payout's and its fee's
                   postings reversed (ledger reversals, each at most once)
    payout_return  a paid payout the bank sent back
                              Dr available_balance  / Cr settlement_bank    amount
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.money import Money, format_display, get_currency

DEBIT, CREDIT = "debit", "credit"
NORMAL_SIDE = {"asset": DEBIT, "expense": DEBIT, "contra_revenue": DEBIT, "revenue": CREDIT}


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    type: str


@dataclass(frozen=True)
class Line:
    account: Account
    direction: str
    amount: int


@dataclass(frozen=True)
class Posting:
    reference_type: str
    reference_id: str
    description: str
    currency: str
    lines: tuple[Line, ...]

    def balanced(self) -> bool:
        return sum(ln.amount if ln.direction == DEBIT else -ln.amount
                   for ln in self.lines) == 0 and all(ln.amount > 0 for ln in self.lines)


def wallet(currency: str) -> Account:
    return Account("customer_wallet", f"Customer {currency} Wallet", "asset")


FEES = Account("fees", "Fees - Processing", "expense")
REFUNDS = Account("refunds", "Refunds", "contra_revenue")


AVAILABLE = Account("available_balance", "Available balance", "asset")
IN_TRANSIT = Account("payouts_in_transit", "Payouts in transit", "asset")
SETTLEMENT_BANK = Account("settlement_bank", "Settlement bank", "asset")
PAYOUT_FEES = Account("payout_fees", "Fees - Payouts", "expense")
PENDING_CODE = "customer_wallet"  # the merchant's pending balance is its customer wallet
# Reference types of money out's postings: they follow their payout's state machine.
MONEY_OUT_TYPES = frozenset({"release", "payout", "payout_fee", "payout_paid", "payout_return"})


def revenue(product: str) -> Account:
    slug = re.sub(r"[^a-z0-9]+", "_", product.lower()).strip("_")[:60] or "product_sales"
    return Account(f"revenue:{slug}", f"Revenue - {product[:100]}", "revenue")


def product_of(data: dict) -> tuple[str, str]:
    """(kind, product) of a payment: a subscription charge is revenue of its plan, an
    invoice payment revenue of invoices, anything else product sales (or the product
    the merchant named in metadata.product)."""
    meta = data.get("metadata") or {}
    if data.get("origin") == "billing" and meta.get("subscriptionId"):
        return "subscription", str(meta.get("product") or "Subscriptions")
    if data.get("origin") == "billing" and meta.get("invoiceId"):
        return "invoice", str(meta.get("product") or "Invoices")
    return "payment", str(meta.get("product") or "Product Sales")


def payment_completed(data: dict) -> list[Posting]:
    currency, pid = data["currency"], data["paymentId"]
    amount, charges = int(data["amount"]), int(data.get("charges") or 0)
    _, product = product_of(data)
    out = [Posting("payment", pid, f"Payment {pid}", currency, (
        Line(wallet(currency), DEBIT, amount), Line(revenue(product), CREDIT, amount)))]
    if charges > 0:
        out.append(Posting("fee", pid, f"Processing fee of payment {pid}", currency, (
            Line(FEES, DEBIT, charges), Line(wallet(currency), CREDIT, charges))))
    return out


def payment_refunded(data: dict, already_posted: int) -> list[Posting]:
    delta = int(data.get("refundedAmount") or 0) - already_posted
    if delta <= 0:
        return []
    currency, pid = data["currency"], data["paymentId"]
    return [Posting("refund", pid, f"Refund of payment {pid}", currency, (
        Line(REFUNDS, DEBIT, delta), Line(wallet(currency), CREDIT, delta)))]


def release(currency: str, net: int, release_id: str) -> Posting | None:
    """Moves the net of movements that became available from pending to available;
    None when they net to nothing."""
    if net == 0:
        return None
    pending, available = wallet(currency), AVAILABLE
    if net > 0:
        lines = (Line(available, DEBIT, net), Line(pending, CREDIT, net))
    else:
        lines = (Line(pending, DEBIT, -net), Line(available, CREDIT, -net))
    return Posting("release", release_id, f"Balance available ({release_id})", currency,
                   lines)


def payout_created(payout_id: str, currency: str, amount: int, fee: int) -> list[Posting]:
    out = [Posting("payout", payout_id, f"Payout {payout_id}", currency, (
        Line(IN_TRANSIT, DEBIT, amount), Line(AVAILABLE, CREDIT, amount)))]
    if fee > 0:
        out.append(Posting("payout_fee", payout_id, f"Fee of payout {payout_id}", currency, (
            Line(PAYOUT_FEES, DEBIT, fee), Line(AVAILABLE, CREDIT, fee))))
    return out


def payout_paid(payout_id: str, currency: str, amount: int) -> Posting:
    return Posting("payout_paid", payout_id, f"Payout {payout_id} paid", currency, (
        Line(SETTLEMENT_BANK, DEBIT, amount), Line(IN_TRANSIT, CREDIT, amount)))


def payout_returned(payout_id: str, currency: str, amount: int) -> Posting:
    return Posting("payout_return", payout_id, f"Payout {payout_id} returned", currency, (
        Line(AVAILABLE, DEBIT, amount), Line(SETTLEMENT_BANK, CREDIT, amount)))


def reversal(original: Posting, transaction_id: str) -> Posting:
    flipped = tuple(Line(ln.account, CREDIT if ln.direction == DEBIT else DEBIT, ln.amount)
                    for ln in original.lines)
    return Posting(original.reference_type, original.reference_id,
                   f"Reversal of {transaction_id}", original.currency, flipped)


def balance(account_type: str, debits: int, credits: int) -> int:
    """The balance on the account's normal side."""
    return debits - credits if NORMAL_SIDE[account_type] == DEBIT else credits - debits


def display(amount: int, currency: str) -> str:
    return format_display(Money(amount, get_currency(currency)))


def describe(direction: str, account_name: str, amount: int, currency: str) -> str:
    """The seed's form: "Dr Customer NOR Wallet 1.00 NOR"."""
    return f"{'Dr' if direction == DEBIT else 'Cr'} {account_name} {display(amount, currency)}"
