"""What `make chaos` checks once the faults are over and everything has drained.

The checker reads every service's schema with the private cluster's superuser (an
operator's view; services themselves never read each other's tables), the private
broker's queue depths, what the load generator was answered and what the webhook
receiver accepted. Each check gives (passed, summary, details); details name the
first offending ids so a failure can be chased.

Money out is checked once the books are at rest (`wait_payouts_settled`: no payout
pending or in transit, every movement released, no ledger posting for a while), so the
balance read through the API and the tables read here are one moment's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
import asyncpg

from bench.chaos_infra import PrivateRabbit
from bench.chaos_load import Load
from bench.chaos_receiver import Receiver
from shared.settings import SERVICES

ONE_THOUSAND_NOR = 1000 * 10**18


class Broker(Protocol):
    """Queue depths of a broker: the private node's, or a compose cluster's."""

    async def queues(self) -> dict[str, tuple[int, int]]: ...


@dataclass
class Check:
    name: str
    passed: bool
    summary: str
    details: list[str] = field(default_factory=list)


def _first(items, n: int = 5) -> str:
    items = sorted(items)
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(str(i) for i in items[:n]) + more


def _problems(*found: tuple[str, object]) -> list[str]:
    """"<what>: <the first few>" for each kind of problem that was found."""
    return [f"{what}: {_first(items)}" for what, items in found if items]


async def backlog(conn: asyncpg.Connection, rabbit: Broker) -> dict:
    """What is still on its way: outbox rows, queued messages, pending webhooks."""
    outbox = {s: await conn.fetchval(
        f"SELECT count(*) FROM {s}.outbox WHERE published_at IS NULL") for s in SERVICES}
    queues = await rabbit.queues()
    deliveries = await conn.fetchval(
        "SELECT count(*) FROM notifier.webhook_deliveries WHERE status = 'pending'")
    return {"outbox": outbox, "queues": queues, "deliveries": deliveries}


def _drained(state: dict) -> bool:
    return not any(state["outbox"].values()) and state["deliveries"] == 0 and \
        not any(r + u for name, (r, u) in state["queues"].items() if not name.endswith(".dlq"))


async def wait_drained(conn: asyncpg.Connection, rabbit: Broker,
                       timeout: float) -> tuple[float, dict]:
    """Poll until nothing is on its way twice in a row (a message in flight between
    the two reads would show in one of them); returns (seconds, last state)."""
    started = time.monotonic()
    calm = 0
    while True:
        state = await backlog(conn, rabbit)
        calm = calm + 1 if _drained(state) else 0
        if calm >= 2 or time.monotonic() - started > timeout:
            return time.monotonic() - started, state
        await asyncio.sleep(1)


async def payouts_state(conn: asyncpg.Connection) -> dict:
    """What money out still has to do: payouts pending or in transit, movements not yet
    released, and the last ledger posting (to see whether anything still posts)."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM billing.payouts
                    WHERE status IN ('pending', 'in_transit')) AS moving,
                  (SELECT count(*) FROM billing.balance_transactions
                    WHERE NOT released) AS unreleased,
                  (SELECT COALESCE(max(id), 0) FROM billing.ledger_transactions) AS last_tx,
                  (SELECT count(*) FROM billing.payouts) AS payouts""")
    return dict(row)


async def wait_payouts_settled(conn: asyncpg.Connection, timeout: float,
                               quiet: float) -> tuple[float, dict, bool]:
    """Poll until no payout is pending or in transit, every movement is released and
    nothing has posted for `quiet` seconds (longer than a settlement day, so the daily
    run that comes after the last release has made its payout, and than a sandbox
    return); returns (seconds, last state, settled)."""
    started = time.monotonic()
    last, since = None, time.monotonic()
    while True:
        state = await payouts_state(conn)
        if last is None or state["last_tx"] != last:
            last, since = state["last_tx"], time.monotonic()
        at_rest = not state["moving"] and not state["unreleased"]
        if at_rest and time.monotonic() - since >= quiet:
            return time.monotonic() - started, state, True
        if time.monotonic() - started > timeout:
            return time.monotonic() - started, state, False
        await asyncio.sleep(0.5)


async def _payments_and_ledger(conn: asyncpg.Connection) -> tuple[dict, Counter, list]:
    """Every payment, how often each was completed, and every ledger transaction."""
    payments = {r["payment_id"]: r for r in await conn.fetch(
        """SELECT payment_id, merchant_id, livemode, status, amount, currency, payer, charges,
                  refunded_amount FROM checkout.payments""")}
    completions = Counter({r["payment_id"]: r["n"] for r in await conn.fetch(
        """SELECT p.payment_id, count(*) AS n FROM checkout.payment_history h
           JOIN checkout.payments p ON p.id = h.payment_pk
           WHERE h.status = 'completed' GROUP BY p.payment_id""")})
    ledger = await conn.fetch(
        """SELECT t.id, t.reference_type, t.reference_id, t.currency,
                  t.reverses IS NOT NULL AS reversal,
                  sum(e.amount) FILTER (WHERE e.direction = 'debit') AS debits,
                  sum(e.amount) FILTER (WHERE e.direction = 'credit') AS credits
           FROM billing.ledger_transactions t
           JOIN billing.ledger_entries e ON e.transaction_pk = t.id
           GROUP BY t.id""")
    return payments, completions, ledger


async def payment_checks(conn: asyncpg.Connection, load: Load, receiver: Receiver, *,
                         gateway: str, api_key: str, endpoint_id: str,
                         drained_state: dict) -> list[Check]:
    """The checks of payments alone, for a run without money out (the compose replica
    faults, tests/compose/test_replicas.py)."""
    payments, completions, ledger = await _payments_and_ledger(conn)
    return [
        _answered_payments_exist(load, payments),
        _one_balanced_ledger_transaction(payments, ledger),
        await _one_webhook_per_event(conn, receiver, endpoint_id, payments),
        await _no_double_charge(conn, payments, completions, ledger, receiver),
        _drained_check(drained_state),
        await _trial_balance(conn, gateway, api_key),
    ]


async def run_checks(conn: asyncpg.Connection, rabbit: PrivateRabbit, load: Load,
                     receiver: Receiver, *, gateway: str, api_key: str,
                     endpoint_id: str, drained_state: dict, settled: bool) -> list[Check]:
    payments, completions, ledger = await _payments_and_ledger(conn)
    books = await _books_at_rest(conn, gateway, api_key)
    payouts = {r["payout_id"]: r for r in await conn.fetch(
        """SELECT payout_id, merchant_id, livemode, currency, amount, fee, status, automatic,
                  settlement_account_id, failure_code, in_transit_at, paid_at, failed_at
           FROM billing.payouts""")}
    return [
        _answered_payments_exist(load, payments),
        _one_balanced_ledger_transaction(payments, ledger),
        await _one_webhook_per_event(conn, receiver, endpoint_id, payments),
        await _no_double_charge(conn, payments, completions, ledger, receiver),
        await _no_payout_paid_twice(conn, payouts, ledger, receiver, books),
        await _no_payout_lost(conn, load, payouts, ledger, receiver, settled),
        _no_balance_wrong(payments, payouts, books),
        _drained_check(drained_state),
        await _trial_balance(conn, gateway, api_key),
    ]


def _answered_payments_exist(load: Load, payments: dict) -> Check:
    missing = [p for p in load.created if p not in payments]
    wrong = [p for p, status in load.confirmed.items()
             if p in payments and payments[p]["status"] != status]
    completed = sum(1 for s in load.confirmed.values() if s == "completed")
    orphans = [p for p in payments if p not in load.created]
    details = _problems(
        ("answered 2xx but absent", missing),
        ("status differs from the 2xx confirm answer",
         [f"{p} answered {load.confirmed[p]} is {payments[p]['status']}" for p in wrong]))
    return Check(
        "every 2xx payment exists", not details and bool(load.created),
        f"{len(load.created)} creates and {len(load.confirmed)} confirms answered 2xx "
        f"({completed} completed); {len(load.created) - len(missing)} found, status as "
        f"answered; {len(orphans)} more in the database whose answer was lost", details)


def _one_balanced_ledger_transaction(payments: dict, ledger) -> Check:
    by_ref: dict[tuple[str, str], list] = defaultdict(list)
    for tx in ledger:
        by_ref[(tx["reference_type"], tx["reference_id"])].append(tx)
    completed = {p: r for p, r in payments.items() if r["status"] == "completed"}
    problems = []
    for pid, row in completed.items():
        txs = by_ref.get(("payment", pid), [])
        if len(txs) != 1:
            problems.append(f"{pid}: {len(txs)} payment transactions")
            continue
        tx = txs[0]
        if tx["debits"] != tx["credits"] or tx["debits"] != row["amount"]:
            problems.append(f"{pid}: debits {tx['debits']} credits {tx['credits']} "
                            f"amount {row['amount']}")
        fees = by_ref.get(("fee", pid), [])
        want = 1 if (row["charges"] or 0) > 0 else 0
        if len(fees) != want or any(f["debits"] != f["credits"] or f["debits"] != row["charges"]
                                    for f in fees):
            problems.append(f"{pid}: {len(fees)} fee transactions for charges {row['charges']}")
    stray = [ref for ref in by_ref if ref[0] in ("payment", "fee") and ref[1] not in completed]
    unbalanced = [tx["id"] for tx in ledger if tx["debits"] != tx["credits"]]
    details = _problems(("completed payments posted wrong", problems),
                        ("postings for payments not completed", stray),
                        ("unbalanced transactions", unbalanced))
    fee_txs = sum(1 for ref in by_ref if ref[0] == "fee")
    return Check(
        "each completed payment: one balanced ledger transaction",
        not details and bool(completed),
        f"{len(completed)} completed payments, {len(completed) - len(problems)} with exactly "
        f"one balanced payment transaction for their amount (and {fee_txs} fee transactions "
        f"for their charges); {len(ledger)} transactions in all, "
        f"{len(unbalanced)} unbalanced", details)


async def _one_webhook_per_event(conn: asyncpg.Connection, receiver: Receiver,
                                 endpoint_id: str, payments: dict) -> Check:
    events = {r["event_id"]: r["event_type"] for r in await conn.fetch(
        "SELECT event_id::text, event_type FROM checkout.outbox "
        "WHERE event_type LIKE 'payment.%' UNION ALL "
        "SELECT event_id::text, event_type FROM billing.outbox "
        "WHERE event_type LIKE 'payout.%'")}
    payout_events = sum(1 for t in events.values() if t.startswith("payout."))
    rows = await conn.fetch(
        """SELECT event_id::text, status, count(*) AS n FROM notifier.webhook_deliveries
           WHERE endpoint_id = $1 AND trigger = 'event' GROUP BY event_id, status""",
        endpoint_id)
    by_event: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        by_event[r["event_id"]][r["status"]] += r["n"]
    not_one = [e for e in events if by_event.get(e, Counter()) != Counter(succeeded=1)]
    unreceived = [e for e in events if receiver.accepted[e] < 1]
    unknown = [e for e in receiver.accepted if e not in events]
    duplicates = sum(n - 1 for n in receiver.accepted.values() if n > 1)
    # And the other way round: every payment told its story (created, then completed).
    told = {(b.get("data", {}).get("paymentId"), b.get("event"))
            for b in receiver.events.values()}
    untold = []
    for pid, row in payments.items():
        expected = {"payment.created"} | (
            set() if row["status"] == "pending" else {f"payment.{row['status']}"})
        untold += [f"{pid} {e}" for e in sorted(expected) if (pid, e) not in told]
    attempts = await conn.fetchval(
        """SELECT count(*) FROM notifier.webhook_attempts a
           JOIN notifier.webhook_deliveries d ON d.seq = a.delivery_seq
           WHERE d.endpoint_id = $1""", endpoint_id)
    details = _problems(
        ("not exactly one succeeded delivery",
         [f"{e} {dict(by_event.get(e, {}))}" for e in not_one]),
        ("never accepted by the receiver", unreceived),
        ("received but not emitted by checkout or billing", unknown),
        ("payments whose event never arrived", untold),
        ("bad signature or id", set(receiver.bad)))
    ok = not details and bool(events)
    return Check(
        "each payment and payout event: one successful webhook delivery", ok,
        f"{len(events) - payout_events} payment and {payout_events} payout events, "
        f"{len(events) - len(not_one)} with exactly one "
        f"succeeded delivery, {len(events) - len(unreceived)} accepted by the receiver "
        f"(each payment's created and final-status events among them); "
        f"{attempts} attempts, {receiver.refused} refused while it failed; "
        f"{duplicates} duplicate receipts (at least once: deduplicated by webhook-id)",
        details)


async def _no_double_charge(conn: asyncpg.Connection, payments: dict, completions: Counter,
                            ledger, receiver: Receiver) -> Check:
    twice = [p for p, n in completions.items() if n > 1]
    posted = Counter(tx["reference_id"] for tx in ledger if tx["reference_type"] == "payment")
    posted_twice = [p for p, n in posted.items() if n > 1]
    completed_events: dict[str, set] = defaultdict(set)
    for webhook_id, body in receiver.events.items():
        if body.get("event") == "payment.completed":
            completed_events[body["data"]["paymentId"]].add(webhook_id)
    told_twice = [p for p, ids in completed_events.items() if len(ids) > 1]
    spent: Counter[str] = Counter()
    for row in payments.values():
        if row["currency"] == "NOR" and row["status"] == "completed":
            spent[row["payer"]] += int(row["amount"])
    wallets = await conn.fetch("SELECT address, balance FROM checkout.sandbox_wallets")
    wrong_wallets = [f"{w['address']}: debited {ONE_THOUSAND_NOR - int(w['balance'])}, "
                     f"paid {spent[w['address']]}" for w in wallets
                     if ONE_THOUSAND_NOR - int(w["balance"]) != spent[w["address"]]]
    details = _problems(("completed more than once", twice),
                        ("posted to the ledger more than once", posted_twice),
                        ("two payment.completed events", told_twice),
                        ("wallets debited other than paid", wrong_wallets))
    ok = not details
    return Check(
        "no payment charged twice", ok,
        f"{sum(completions.values())} completions for {len(completions)} payments; "
        f"{len(posted)} payment postings; {len(completed_events)} payment.completed webhooks, "
        f"one per payment; {len(wallets)} NOR wallets debited exactly what they paid "
        f"({len(wrong_wallets)} not)", details)


# Money out ---------------------------------------------------------------------------

MONEY_OUT_ACCOUNTS = ("customer_wallet", "available_balance", "payouts_in_transit",
                      "settlement_bank", "payout_fees")
BALANCE_KEYS = ("pending", "available", "inTransit")
# The chaos stack's NORGATE_PAYOUT_STATUS_CHECK_SECONDS (bench/chaos.py sets it from here).
STATUS_CHECK_SECONDS = 5.0


@dataclass
class Books:
    """The merchant's test-mode books at one moment: its balance as GET /api/v2/balance
    answers it, its money-out ledger accounts and its balance transactions."""
    merchant_id: int | None
    status: int  # of GET /api/v2/balance
    api: dict[str, dict[str, int]]  # currency -> pending, available, inTransit
    accounts: dict[str, dict[str, int]]  # currency -> account code -> debits - credits
    movements: dict[str, Counter]  # currency -> "pending" | "available" | type -> sum
    steady: bool  # nothing was posted while they were read


async def _books_at_rest(conn: asyncpg.Connection, gateway: str, api_key: str) -> Books:
    """Read the books, again (up to three times) if something posted meanwhile."""
    for _ in range(3):
        before = await conn.fetchval(
            "SELECT COALESCE(max(id), 0) FROM billing.ledger_transactions")
        async with aiohttp.ClientSession(headers={"X-API-Key": api_key}) as http:
            async with http.get(gateway + "/api/v2/balance") as resp:
                status, body = resp.status, await resp.json(content_type=None)
        result = (body or {}).get("result") or {}
        merchant = result.get("merchantId")
        api = {b["currency"]: {k: int(b[k]) for k in BALANCE_KEYS}
               for b in result.get("balances", [])} if result.get("livemode") is False else {}
        accounts: dict[str, dict[str, int]] = defaultdict(dict)
        for r in await conn.fetch(
                """SELECT code, currency, debits - credits AS balance
                   FROM billing.ledger_accounts
                   WHERE merchant_id = $1 AND NOT livemode AND code = ANY($2::text[])""",
                merchant, list(MONEY_OUT_ACCOUNTS)):
            accounts[r["currency"]][r["code"]] = int(r["balance"])  # all debit-normal
        movements: dict[str, Counter] = defaultdict(Counter)
        for r in await conn.fetch(
                """SELECT currency, type, released, sum(amount) AS total
                   FROM billing.balance_transactions WHERE merchant_id = $1 AND NOT livemode
                   GROUP BY currency, type, released""", merchant):
            movements[r["currency"]]["available" if r["released"] else "pending"] += \
                int(r["total"])
            movements[r["currency"]][r["type"]] += int(r["total"])
        after = await conn.fetchval(
            "SELECT COALESCE(max(id), 0) FROM billing.ledger_transactions")
        if after == before:
            break
    return Books(merchant, status, api, dict(accounts), dict(movements), after == before)


def _postings(ledger) -> dict[tuple[str, str], tuple[list, list]]:
    """(reference type, reference id) -> (its transactions, their reversals)."""
    out: dict[tuple[str, str], tuple[list, list]] = defaultdict(lambda: ([], []))
    for tx in ledger:
        out[(tx["reference_type"], tx["reference_id"])][1 if tx["reversal"] else 0].append(tx)
    return out


def _returned(p) -> bool:
    return p["status"] == "failed" and p["paid_at"] is not None


def _reversed(p) -> bool:
    """Canceled, or failed before being paid: its payout and fee postings reversed."""
    return p["status"] == "canceled" or (p["status"] == "failed" and p["paid_at"] is None)


async def _payout_events(conn: asyncpg.Connection, receiver: Receiver) -> dict[str, Counter]:
    """payoutId -> payout.* event type -> events billing emitted (its outbox rows). The
    relay empties a row's payload once published, so each is named by its webhook body
    as notifier stored it (or as the receiver got it)."""
    out: dict[str, Counter] = defaultdict(Counter)
    for r in await conn.fetch(
            """SELECT o.event_id::text AS event_id, o.event_type, w.body
               FROM billing.outbox o LEFT JOIN notifier.webhook_events w USING (event_id)
               WHERE o.event_type LIKE 'payout.%'"""):
        try:
            data = json.loads(bytes(r["body"])).get("data") if r["body"] else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = receiver.events.get(r["event_id"], {}).get("data") or {}
        out[str(data.get("payoutId", "unnamed"))][r["event_type"]] += 1
    return out


def _payout_receipts(receiver: Receiver) -> dict[str, dict[str, set]]:
    """payoutId -> payout.* event type -> webhook ids the receiver accepted."""
    out: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for webhook_id, body in receiver.events.items():
        if str(body.get("event", "")).startswith("payout."):
            out[str(body.get("data", {}).get("payoutId"))][body["event"]].add(webhook_id)
    return out


async def _no_payout_paid_twice(conn: asyncpg.Connection, payouts: dict, ledger,
                                receiver: Receiver, books: Books) -> Check:
    posts = _postings(ledger)
    paid_entries = Counter({r["payout_id"]: r["n"] for r in await conn.fetch(
        """SELECT p.payout_id, count(*) AS n FROM billing.payout_events e
           JOIN billing.payouts p ON p.id = e.payout_pk WHERE e.status = 'paid'
           GROUP BY p.payout_id""")})
    emitted, told = await _payout_events(conn, receiver), _payout_receipts(receiver)
    wrong_paid, wrong_return = [], []
    for pid, p in payouts.items():
        (paid_txs, paid_undone), (returns, returns_undone) = \
            posts[("payout_paid", pid)], posts[("payout_return", pid)]
        want = 1 if p["paid_at"] is not None else 0
        if len(paid_txs) != want or paid_undone or \
                any(tx["debits"] != p["amount"] for tx in paid_txs):
            wrong_paid.append(f"{pid} ({p['status']}): {len(paid_txs)} payout_paid postings")
        if len(returns) != (1 if _returned(p) else 0) or returns_undone:
            wrong_return.append(f"{pid} ({p['status']}): {len(returns)} payout_return postings")
    bank = []
    mine = [p for p in payouts.values()
            if p["merchant_id"] == books.merchant_id and not p["livemode"]]
    sums = []
    for currency in sorted({p["currency"] for p in mine} | set(books.accounts)):
        paid_out = sum(int(p["amount"]) for p in mine
                       if p["currency"] == currency and p["status"] == "paid")
        held = books.accounts.get(currency, {}).get("settlement_bank", 0)
        sums.append(f"{currency} {held}")
        if held != paid_out:
            bank.append(f"{currency}: settlement bank {held}, paid and not returned {paid_out}")
    details = _problems(
        ("paid without exactly one payout_paid posting of its amount, or posted unpaid",
         wrong_paid),
        ("return postings other than one per returned payout", wrong_return),
        ("paid more than once in the timeline",
         [f"{pid} x{n}" for pid, n in paid_entries.items() if n > 1]),
        ("more than one payout.paid event emitted",
         [pid for pid, c in emitted.items() if c["payout.paid"] > 1]),
        ("more than one payout.paid webhook received",
         [pid for pid, c in told.items() if len(c.get("payout.paid", ())) > 1]),
        ("settlement bank differs from the payouts paid", bank))
    paid = sum(1 for p in payouts.values() if p["paid_at"] is not None)
    returned = sum(1 for p in payouts.values() if _returned(p))
    return Check(
        "no payout paid twice", not details and paid > 0,
        f"{paid} payouts paid ({returned} of them then returned by the bank), each with one "
        f"payout_paid posting, one 'paid' timeline entry and one payout.paid event; "
        f"settlement bank {', '.join(sums) or 'none'} = the payouts paid and not returned",
        details)


def _expected_events(p) -> set[str]:
    out = {"payout.created"}
    if p["paid_at"] is not None:
        out.add("payout.paid")
    if p["status"] in ("failed", "canceled"):
        out.add(f"payout.{p['status']}")
    return out


async def _no_payout_lost(conn: asyncpg.Connection, load: Load, payouts: dict, ledger,
                          receiver: Receiver, settled: bool) -> Check:
    posts = _postings(ledger)
    emitted, told = await _payout_events(conn, receiver), _payout_receipts(receiver)
    role_of = {account: role for role, account in load.accounts.items()}
    missing = [pid for pid in load.payouts if pid not in payouts]
    moving = [f"{pid} {p['status']}" for pid, p in payouts.items()
              if p["status"] in ("pending", "in_transit")]
    # A 200 must have canceled it, and nothing the load did not ask to cancel is
    # canceled. (A 409 may follow a cancel that committed but whose answer was lost.)
    cancels = [f"{pid} cancel answered 200, is {payouts[pid]['status']}"
               for pid, code in load.cancels.items() if pid in payouts
               and code == 200 and payouts[pid]["status"] != "canceled"]
    cancels += [f"{pid} canceled unasked" for pid, p in payouts.items()
                if p["status"] == "canceled" and pid not in load.cancels]
    # Answered only when the tick asked the rail (its callback lost: billing killed,
    # PostgreSQL down when it came): at least NORGATE_PAYOUT_STATUS_CHECK_SECONDS.
    asked = sum(1 for p in payouts.values() if p["in_transit_at"] is not None and (
        (p["paid_at"] or p["failed_at"] or p["in_transit_at"]) - p["in_transit_at"]
    ).total_seconds() >= STATUS_CHECK_SECONDS)
    destination, not_returned = [], []
    for pid, p in payouts.items():
        role, end = role_of.get(p["settlement_account_id"]), (p["status"], p["failure_code"])
        if role == "closed" and end != ("failed", "account_closed"):
            destination.append(f"{pid} to the closed account: {end}")
        elif role == "returned" and end == ("paid", None):
            # The sandbox's return is a second callback, and the tick asks again only
            # about payouts in transit: a return lost with billing's kill -9 stays paid.
            not_returned.append(pid)
        elif role == "returned" and end != ("failed", "returned"):
            destination.append(f"{pid} to the returning account: {end}")
        elif role == "default" and p["status"] not in ("paid", "canceled"):
            destination.append(f"{pid} to the default account: {end}")
    postings = []
    for pid, p in payouts.items():
        for kind, amount in (("payout", p["amount"]), ("payout_fee", p["fee"])):
            made, undone = posts[(kind, pid)]
            want = (1 if amount > 0 else 0, 1 if amount > 0 and _reversed(p) else 0)
            if (len(made), len(undone)) != want or \
                    any(tx["debits"] != amount for tx in made + undone):
                postings.append(f"{pid} ({p['status']}): {len(made)} {kind} postings, "
                                f"{len(undone)} reversals")
    untold = [f"{pid} {e}" for pid, p in payouts.items()
              for e in sorted(_expected_events(p) - set(told.get(pid, {})))]
    unemitted = [f"{pid} {dict(emitted.get(pid, {}))}" for pid, p in payouts.items()
                 if Counter({e: 1 for e in _expected_events(p)}) != emitted.get(pid, Counter())]
    manual = [p for p in payouts.values() if not p["automatic"]]
    automatic = len(payouts) - len(manual)
    details = _problems(
        ("answered 2xx but absent", missing),
        ("still pending or in transit", moving),
        ("cancel answer and status disagree", cancels),
        ("not what the sandbox rail does with its account", destination),
        ("created or undone without exactly one posting each", postings),
        ("events emitted other than one per status", unemitted),
        ("payout events whose payout is unknown",
         [f"{t} x{n}" for t, n in emitted.get("unnamed", Counter()).items()]),
        ("events the receiver never got", untold))
    if not settled:
        details.append("the books did not come to rest before the deadline")
    ends = Counter(p["status"] for p in payouts.values())
    return Check(
        "no payout lost", not details and bool(manual) and automatic > 0,
        f"{len(payouts)} payouts ({automatic} automatic, {len(manual)} manual: "
        f"{len(load.payouts)} answered 2xx, {len(manual) - len(load.payouts)} more whose "
        f"answer was lost); ended {dict(sorted(ends.items()))}, none pending or in transit; "
        f"{sum(1 for c in load.cancels.values() if c == 200)} of {len(load.cancels)} "
        f"cancels accepted; {asked} answered only when the tick asked the rail (callback "
        f"lost); each payout's created and final events emitted once and "
        f"received; {len(not_returned)} paid to the returning account and never returned "
        f"(its return callback lost; not failed)"
        + (f": {_first(not_returned)}" if not_returned else ""), details)


def _no_balance_wrong(payments: dict, payouts: dict, books: Books) -> Check:
    mine = [p for p in payouts.values()
            if p["merchant_id"] == books.merchant_id and not p["livemode"]]
    paid_in = [r for r in payments.values() if r["merchant_id"] == books.merchant_id
               and not r["livemode"] and r["status"] in ("completed", "refunded")]
    currencies = sorted(set(books.api) | set(books.accounts) | set(books.movements)
                        | {r["currency"] for r in paid_in})
    problems, sums = [], []
    for cur in currencies:
        api = books.api.get(cur, dict.fromkeys(BALANCE_KEYS, 0))
        acc = books.accounts.get(cur, {})
        moves = books.movements.get(cur, Counter())
        in_ledger = {"pending": acc.get("customer_wallet", 0),
                     "available": acc.get("available_balance", 0),
                     "inTransit": acc.get("payouts_in_transit", 0)}
        in_movements = {"pending": moves["pending"], "available": moves["available"],
                        "inTransit": sum(int(p["amount"]) for p in mine if p["currency"] == cur
                                         and p["status"] in ("pending", "in_transit"))}
        if api != in_ledger:
            problems.append(f"{cur}: API {api}, ledger accounts {in_ledger}")
        if api != in_movements:
            problems.append(f"{cur}: API {api}, balance transactions and payouts "
                            f"{in_movements}")
        payments_in = sum(int(r["amount"]) for r in paid_in if r["currency"] == cur)
        fees = sum(int(r["charges"] or 0) for r in paid_in if r["currency"] == cur)
        refunds = sum(int(r["refunded_amount"]) for r in paid_in if r["currency"] == cur)
        if (moves["payment"], moves["fee"], moves["refund"]) != (payments_in, -fees, -refunds):
            problems.append(f"{cur}: movements payment {moves['payment']} fee {moves['fee']} "
                            f"refund {moves['refund']}; checkout: {payments_in}, -{fees}, "
                            f"-{refunds}")
        kept = sum(int(p["fee"]) for p in mine if p["currency"] == cur and not _reversed(p))
        if acc.get("payout_fees", 0) != kept:
            problems.append(f"{cur}: payout fees account {acc.get('payout_fees', 0)}, "
                            f"fees of payouts made {kept}")
        bank, payout_fees = acc.get("settlement_bank", 0), acc.get("payout_fees", 0)
        held = api["pending"] + api["available"] + api["inTransit"] + bank + payout_fees
        if held != payments_in - fees - refunds:
            problems.append(f"{cur}: balances + bank + payout fees = {held}, payments - fees "
                            f"- refunds = {payments_in - fees - refunds}")
        sums.append(f"{cur}: pending {api['pending']} + available {api['available']} + in "
                    f"transit {api['inTransit']} + bank {bank} + payout fees {payout_fees} = "
                    f"payments {payments_in} - fees {fees} - refunds {refunds}")
    details = _problems(("books that disagree", problems))
    if books.status != 200 or books.merchant_id is None:
        details.append(f"GET /api/v2/balance: HTTP {books.status}")
    if not books.steady:
        details.append("the ledger kept posting while the books were read")
    return Check(
        "no balance wrong by a minor unit", not details and bool(books.api),
        f"{len(currencies)} books; GET /api/v2/balance = ledger accounts = balance "
        f"transactions (pending unreleased, available released) and payouts in transit; "
        + "; ".join(sums), details)


def _drained_check(state: dict) -> Check:
    pending = {s: n for s, n in state["outbox"].items() if n}
    queued = {q: r + u for q, (r, u) in state["queues"].items() if r + u}
    details = []
    if pending:
        details.append(f"outbox rows unpublished: {pending}")
    if queued:
        details.append(f"messages in queues: {queued}")
    if state["deliveries"]:
        details.append(f"webhook deliveries pending: {state['deliveries']}")
    return Check(
        "outbox and queues drained", not pending and not queued and not state["deliveries"],
        f"outbox pending in {len(state['outbox'])} schemas: {sum(state['outbox'].values())}; "
        f"{len(state['queues'])} queues (dead-letter queues included) hold "
        f"{sum(queued.values())} messages; pending webhook deliveries: "
        f"{state['deliveries']}", details)


async def _trial_balance(conn: asyncpg.Connection, gateway: str, api_key: str) -> Check:
    async with aiohttp.ClientSession(headers={"X-API-Key": api_key}) as http:
        async with http.get(gateway + "/api/v2/ledger/trial-balance") as resp:
            body = await resp.json(content_type=None)
    result = body.get("result") or {}
    books = {b["currency"]: (int(b["totalDebits"]), int(b["totalCredits"]))
             for b in result.get("currencies", [])}
    sums = await conn.fetch(
        """SELECT t.currency,
                  COALESCE(sum(e.amount) FILTER (WHERE e.direction = 'debit'), 0) AS d,
                  COALESCE(sum(e.amount) FILTER (WHERE e.direction = 'credit'), 0) AS c
           FROM billing.ledger_entries e
           JOIN billing.ledger_transactions t ON t.id = e.transaction_pk
           GROUP BY t.currency""")
    drift = await conn.fetch(
        """SELECT a.code, a.currency FROM billing.ledger_accounts a
           LEFT JOIN LATERAL (
             SELECT COALESCE(sum(amount) FILTER (WHERE direction = 'debit'), 0) AS d,
                    COALESCE(sum(amount) FILTER (WHERE direction = 'credit'), 0) AS c
             FROM billing.ledger_entries WHERE account_pk = a.id) e ON true
           WHERE a.debits <> e.d OR a.credits <> e.c""")
    off = {r["currency"]: int(r["d"]) - int(r["c"]) for r in sums if r["d"] != r["c"]}
    details = []
    if resp.status != 200 or not result.get("balanced"):
        details.append(f"GET /api/v2/ledger/trial-balance: HTTP {resp.status} {books}")
    if off:
        details.append(f"entries debits minus credits per currency: {off}")
    if drift:
        details.append("account running totals differ from their entries: " +
                       _first(f"{r['code']} {r['currency']}" for r in drift))
    net = ", ".join(f"{c} {d - k}" for c, (d, k) in sorted(books.items()))
    return Check(
        "trial balance is zero", not details and bool(books),
        f"trial balance (debits - credits) per currency: {net or 'none'}; entries agree "
        f"({len(sums)} currencies), account totals agree with entries", details)
