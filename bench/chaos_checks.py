"""What `make chaos` checks once the faults are over and everything has drained.

The checker reads every service's schema with the private cluster's superuser (an
operator's view; services themselves never read each other's tables), the private
broker's queue depths, what the load generator was answered and what the webhook
receiver accepted. Each check gives (passed, summary, details); details name the
first offending ids so a failure can be chased.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import aiohttp
import asyncpg

from bench.chaos_infra import PrivateRabbit
from bench.chaos_load import Load
from bench.chaos_receiver import Receiver
from shared.settings import SERVICES

ONE_THOUSAND_NOR = 1000 * 10**18


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


async def backlog(conn: asyncpg.Connection, rabbit: PrivateRabbit) -> dict:
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


async def wait_drained(conn: asyncpg.Connection, rabbit: PrivateRabbit,
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


async def run_checks(conn: asyncpg.Connection, rabbit: PrivateRabbit, load: Load,
                     receiver: Receiver, *, gateway: str, api_key: str,
                     endpoint_id: str, drained_state: dict) -> list[Check]:
    payments = {r["payment_id"]: r for r in await conn.fetch(
        "SELECT payment_id, status, amount, currency, payer, charges FROM checkout.payments")}
    completions = Counter({r["payment_id"]: r["n"] for r in await conn.fetch(
        """SELECT p.payment_id, count(*) AS n FROM checkout.payment_history h
           JOIN checkout.payments p ON p.id = h.payment_pk
           WHERE h.status = 'completed' GROUP BY p.payment_id""")})
    ledger = await conn.fetch(
        """SELECT t.id, t.reference_type, t.reference_id, t.currency,
                  sum(e.amount) FILTER (WHERE e.direction = 'debit') AS debits,
                  sum(e.amount) FILTER (WHERE e.direction = 'credit') AS credits
           FROM billing.ledger_transactions t
           JOIN billing.ledger_entries e ON e.transaction_pk = t.id
           GROUP BY t.id""")
    return [
        _answered_payments_exist(load, payments),
        _one_balanced_ledger_transaction(payments, ledger),
        await _one_webhook_per_event(conn, receiver, endpoint_id, payments),
        await _no_double_charge(conn, payments, completions, ledger, receiver),
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
        "WHERE event_type LIKE 'payment.%'")}
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
        ("received but not emitted by checkout", unknown),
        ("payments whose event never arrived", untold),
        ("bad signature or id", set(receiver.bad)))
    ok = not details and bool(events)
    return Check(
        "each payment event: one successful webhook delivery", ok,
        f"{len(events)} payment events, {len(events) - len(not_one)} with exactly one "
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
