"""SQL of the ledger: accounts, immutable transactions and entries, reports.

Each merchant keeps two books, test and live (docs/modes.md): an account is keyed by
(merchant, mode, code, currency), a transaction posts only to accounts of its mode, and
every read takes the caller's mode."""

from __future__ import annotations

import uuid
from dataclasses import KW_ONLY, dataclass
from datetime import datetime

import asyncpg

from services.billing import domain, ledger, rollups
from services.billing.ledger import Account, Line, Posting
from shared.db import (
    EXACT_TOTAL_UP_TO,
    KeyPage,
    Position,
    bounded_total,
    keyset_after,
    last_of,
    snapshot,
)

_POST = """
WITH t AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::uuid[], $9::bigint[], $10::timestamptz[],
                         $17::boolean[])
        WITH ORDINALITY AS t(transaction_id, company_id, merchant_id, reference_type,
                             reference_id, description, currency, event_id, reverses,
                             posted_at, livemode, tn)),
lines AS (
    SELECT * FROM unnest($11::bigint[], $12::text[], $13::text[], $14::text[], $15::text[],
                         $16::numeric[])
        WITH ORDINALITY AS l(tn, code, name, type, direction, amount, n)),
accounts AS (
    -- Creates the postings' accounts when new and adds to their running totals, in
    -- one upsert; rows in (merchant, mode, code, currency) order, so concurrent
    -- postings lock them in one order.
    INSERT INTO ledger_accounts AS a (company_id, merchant_id, livemode, code, name, type,
                                      currency, debits, credits)
    SELECT min(t.company_id), t.merchant_id, t.livemode, l.code, min(l.name), min(l.type),
           t.currency,
           coalesce(sum(l.amount) FILTER (WHERE l.direction = 'debit'), 0),
           coalesce(sum(l.amount) FILTER (WHERE l.direction = 'credit'), 0)
      FROM lines l JOIN t USING (tn)
     GROUP BY t.merchant_id, t.livemode, l.code, t.currency
     ORDER BY t.merchant_id, t.livemode, l.code, t.currency
    ON CONFLICT (merchant_id, livemode, code, currency) DO UPDATE
       SET debits = a.debits + EXCLUDED.debits, credits = a.credits + EXCLUDED.credits
    RETURNING a.id, a.merchant_id, a.livemode, a.code, a.currency),
tx AS (
    INSERT INTO ledger_transactions (transaction_id, company_id, merchant_id, livemode,
        reference_type, reference_id, description, currency, event_id, reverses, posted_at)
    SELECT transaction_id, company_id, merchant_id, livemode, reference_type, reference_id,
           description, currency, event_id, reverses, COALESCE(posted_at, now())
      FROM t ORDER BY tn
    RETURNING id, transaction_id)
INSERT INTO ledger_entries (transaction_pk, account_pk, direction, amount)
SELECT tx.id, a.id, l.direction, l.amount
  FROM lines l JOIN t USING (tn) JOIN tx USING (transaction_id)
  JOIN accounts a ON a.merchant_id = t.merchant_id AND a.livemode = t.livemode
                 AND a.code = l.code AND a.currency = t.currency
 ORDER BY l.n"""


@dataclass(frozen=True)
class Post:
    """One posting to write, with what it belongs to: whose book, and which of its two
    (`livemode`, always named: a posting never lands in a book by default)."""
    posting: Posting
    company_id: int
    merchant_id: int
    event_id: uuid.UUID | None = None
    reverses: int | None = None
    at: datetime | None = None
    _: KW_ONLY
    livemode: bool


async def post(conn: asyncpg.Connection, posting: Posting, *, company_id: int,
               merchant_id: int, livemode: bool, event_id: uuid.UUID | None = None,
               reverses: int | None = None, at: datetime | None = None) -> str:
    """One balanced transaction, its entries, and the accounts' running totals: one
    statement (a unique violation, such as an event posted twice, leaves nothing)."""
    [transaction_id] = await post_many(conn, [Post(posting, company_id, merchant_id,
                                                   event_id, reverses, at,
                                                   livemode=livemode)])
    return transaction_id


async def post_many(conn: asyncpg.Connection, posts: list[Post]) -> list[str]:
    """Balanced transactions (each with its entries) and the accounts' running totals,
    all in one statement, in the order given: a consumer's batch of completed payments
    costs one round trip, not two per payment. All or nothing."""
    if not posts:
        return []
    for p in posts:
        if not p.posting.balanced():
            raise ValueError(f"unbalanced posting {p.posting}")
    ids = [domain.new_id("ltx") for _ in posts]
    lines = [(tn, ln) for tn, p in enumerate(posts, start=1) for ln in p.posting.lines]
    await conn.execute(
        _POST, ids, [p.company_id for p in posts], [p.merchant_id for p in posts],
        [p.posting.reference_type for p in posts], [p.posting.reference_id for p in posts],
        [p.posting.description for p in posts], [p.posting.currency for p in posts],
        [p.event_id for p in posts], [p.reverses for p in posts], [p.at for p in posts],
        [tn for tn, _ in lines], [ln.account.code for _, ln in lines],
        [ln.account.name for _, ln in lines], [ln.account.type for _, ln in lines],
        [ln.direction for _, ln in lines], [ln.amount for _, ln in lines],
        [p.livemode for p in posts])
    return ids


def _scope(where: list[str], args: list, company_id, merchant_id, livemode: bool,
           prefix: str) -> None:
    args.append(livemode)
    where.append(f"{prefix}livemode = ${len(args)}")
    if company_id is not None:
        args.append(company_id)
        where.append(f"{prefix}company_id = ${len(args)}")
    if merchant_id is not None:
        args.append(merchant_id)
        where.append(f"{prefix}merchant_id = ${len(args)}")


async def entries(conn, *, company_id, merchant_id, livemode: bool,
                  reference_type: str | None, reference_id: str | None,
                  account_code: str | None, limit: int, offset: int,
                  after: Position | None = None) -> KeyPage[asyncpg.Record]:
    """A page of entries, oldest transaction first, from `after` (a keyset cursor's
    position: the last row's transaction row id and entry id) or `offset`; the total is
    of the whole filter. Each read walks an index in the list's order and stops at the
    page (or at the count's bound): the book's transactions by id, each one's entries by
    transaction; with `account_code`, each matching account's entries by transaction
    (one walk per currency), merged. OFFSET 0 keeps the per-row subquery a loop."""
    where: list[str] = ["true"]
    args: list[object] = []
    _scope(where, args, company_id, merchant_id, livemode, "t.")
    for column, value in (("t.reference_type", reference_type),
                          ("t.reference_id", reference_id)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    columns = """e.id, e.direction, e.amount, t.transaction_id, t.reference_type,
                 t.reference_id, t.description, t.currency, t.posted_at, t.merchant_id,
                 t.livemode, e.code, e.name, t.reverses AS reverses_pk, e.transaction_pk"""
    if account_code is None:
        source = f"""(SELECT {columns} FROM ledger_transactions t
                  CROSS JOIN LATERAL (SELECT e.id, e.direction, e.amount, e.transaction_pk,
                                             a.code, a.name
                                        FROM ledger_entries e
                                        JOIN ledger_accounts a ON a.id = e.account_pk
                                       WHERE e.transaction_pk = t.id OFFSET 0) e
                  WHERE {' AND '.join(where)} AND {{after}}
                  ORDER BY t.id, e.id LIMIT {{n}}) AS page"""
    else:
        scope: list[str] = []
        _scope(scope, args, company_id, merchant_id, livemode, "a.")
        args.append(account_code)
        source = f"""(SELECT x.* FROM ledger_accounts a
                  CROSS JOIN LATERAL (
                      SELECT {columns} FROM (SELECT e.*, a.code, a.name FROM ledger_entries e
                                              WHERE e.account_pk = a.id AND {{after}}) e
                        JOIN ledger_transactions t ON t.id = e.transaction_pk
                       WHERE {' AND '.join(where)}
                       ORDER BY e.transaction_pk, e.id LIMIT {{n}}) x
                  WHERE {' AND '.join(scope)} AND a.code = ${len(args)}
                  ORDER BY x.transaction_pk, x.id LIMIT {{n}}) AS page"""
    page_args = list(args)
    if after is None or account_code is not None:
        # the entry's own (transaction_pk, id): account_pk, transaction_pk, id's index
        start_at = keyset_after(page_args, "e.transaction_pk, e.id", after, descending=False)
    else:
        # t.id bounds the walk of the book's transactions; the pair orders within one
        start_at = keyset_after(page_args, "t.id, e.id", after, descending=False)
        start_at += f" AND t.id >= ${len(page_args) - 1}"
    async with snapshot(conn):
        # the source's own LIMIT bounds the count's walk
        total, estimated = await bounded_total(
            conn, f"FROM {source.format(n=EXACT_TOTAL_UP_TO + 1, after='true')}", *args,
            estimate=f"FROM {source.format(n='ALL', after='true')}")
        rows = await conn.fetch(
            f"""SELECT page.*, r.transaction_id AS reverses
                  FROM {source.format(n=int(offset) + int(limit) + 1, after=start_at)}
                  LEFT JOIN ledger_transactions r ON r.id = page.reverses_pk
                 ORDER BY page.transaction_pk, page.id
                 LIMIT {int(limit) + 1} OFFSET {int(offset)}""", *page_args)
    rows, last = last_of(rows, limit, _entry_position)
    return KeyPage(rows, total, estimated, last)


def _entry_position(row) -> Position:
    return Position(row["transaction_pk"], row["id"])


async def accounts(conn, *, company_id, merchant_id, livemode: bool,
                   currency: str | None = None):
    where: list[str] = ["true"]
    args: list[object] = []
    _scope(where, args, company_id, merchant_id, livemode, "")
    if currency is not None:
        args.append(currency)
        where.append(f"currency = ${len(args)}")
    return await conn.fetch(f"SELECT * FROM ledger_accounts WHERE {' AND '.join(where)} "
                            "ORDER BY merchant_id, currency, code", *args)


async def transaction(conn, transaction_id: str, *, company_id, merchant_id,
                      livemode: bool):
    where, args = ["transaction_id = $1"], [transaction_id]
    _scope(where, args, company_id, merchant_id, livemode, "")
    return await conn.fetchrow(
        f"SELECT * FROM ledger_transactions WHERE {' AND '.join(where)}", *args)


async def transaction_lines(conn, tx_pk: int) -> tuple[Line, ...]:
    rows = await conn.fetch(
        """SELECT e.direction, e.amount, a.code, a.name, a.type FROM ledger_entries e
             JOIN ledger_accounts a ON a.id = e.account_pk WHERE e.transaction_pk = $1
            ORDER BY e.id""", tx_pk)
    return tuple(Line(Account(r["code"], r["name"], r["type"]), r["direction"],
                      int(r["amount"])) for r in rows)


async def is_reversed(conn, tx_pk: int) -> bool:
    return bool(await conn.fetchval(
        "SELECT true FROM ledger_transactions WHERE reverses = $1", tx_pk))


async def merchant_of_company(conn, merchant_id: int, company_id: int) -> bool:
    """Whether the merchant has books under the company (in either mode)."""
    return bool(await conn.fetchval(
        "SELECT true FROM ledger_accounts WHERE merchant_id = $1 AND company_id = $2 LIMIT 1",
        merchant_id, company_id))


_WALLET_SUMS = """
       COALESCE(SUM(CASE WHEN t.reference_type = 'payment' THEN
           CASE e.direction WHEN 'debit' THEN e.amount ELSE -e.amount END END), 0) AS gross,
       COALESCE(SUM(CASE WHEN t.reference_type = 'fee' THEN
           CASE e.direction WHEN 'credit' THEN e.amount ELSE -e.amount END END), 0) AS charges,
       COALESCE(SUM(CASE WHEN t.reference_type = 'refund' THEN
           CASE e.direction WHEN 'credit' THEN e.amount ELSE -e.amount END END), 0) AS refunds,
       COUNT(DISTINCT t.id) FILTER (WHERE t.reference_type = 'payment'
                                    AND t.reverses IS NULL) AS payments,
       COUNT(DISTINCT t.id) FILTER (WHERE t.reference_type = 'refund'
                                    AND t.reverses IS NULL) AS refund_count"""

# The edges' minutes, from the ledger through ledger_transactions_merchant.
_RAW_WALLET = f"""
SELECT t.currency, {_WALLET_SUMS}
  FROM ledger_transactions t
  JOIN ledger_entries e ON e.transaction_pk = t.id
  JOIN ledger_accounts a ON a.id = e.account_pk AND a.code = 'customer_wallet'
 WHERE t.merchant_id = $1 AND t.livemode = $2 AND t.posted_at >= ${{lo}}
   AND t.posted_at < ${{hi}}
 GROUP BY t.currency"""

_ROLLUP = """
SELECT currency, gross, charges, refunds, payments, refund_count FROM settlement_rollup
 WHERE merchant_id = $1 AND livemode = $2 AND grain = '{grain}' AND bucket >= ${lo}
   AND bucket < ${hi}"""

_SETTLEMENT = f"""
SELECT currency, SUM(gross) AS gross, SUM(charges) AS charges, SUM(refunds) AS refunds,
       SUM(payments)::bigint AS payments, SUM(refund_count)::bigint AS refund_count
  FROM ({_ROLLUP.format(grain='day', lo=3, hi=4)}
        UNION ALL {_ROLLUP.format(grain='hour', lo=5, hi=6)}
        UNION ALL {_ROLLUP.format(grain='hour', lo=7, hi=8)}
        UNION ALL {_RAW_WALLET.format(lo=9, hi=10)}
        UNION ALL {_RAW_WALLET.format(lo=11, hi=12)}) AS parts
 GROUP BY currency ORDER BY currency"""


async def settlement(conn, *, merchant_id: int, livemode: bool, start: datetime,
                     end: datetime):
    """Per currency: the movement of the customer wallet of the merchant's book of one
    mode by reference type in [start, end) — whole days and hours from the rollup
    (0007_rollups), the edges' minutes from the ledger; reversals carry their original's
    type, so they net out."""
    part = rollups.segments(start, end)
    (h0, h1), (h2, h3) = part.hours
    (r0, r1), (r2, r3) = part.raw
    return await conn.fetch(_SETTLEMENT, merchant_id, livemode, *part.days, h0, h1, h2, h3,
                            r0, r1, r2, r3)


async def reverse_references(conn: asyncpg.Connection, *, reference_types: list[str],
                             reference_id: str, livemode: bool,
                             at: datetime | None = None) -> list[str]:
    """Reverses every transaction of these types posted for `reference_id` in the book
    of that mode and not reversed yet (a payout's creation and fee when it fails), in
    one statement; each at most once (ledger_transactions_reversed_once)."""
    rows = await conn.fetch(
        """SELECT t.id, t.transaction_id, t.company_id, t.merchant_id, t.reference_type,
                  t.reference_id, t.currency
             FROM ledger_transactions t
            WHERE t.reference_id = $1 AND t.reference_type = ANY($2::text[])
              AND t.livemode = $3 AND t.reverses IS NULL
              AND NOT EXISTS (SELECT 1 FROM ledger_transactions r WHERE r.reverses = t.id)
            ORDER BY t.id""", reference_id, reference_types, livemode)
    posts = []
    for r in rows:
        original = Posting(r["reference_type"], r["reference_id"], "", r["currency"],
                           await transaction_lines(conn, r["id"]))
        posts.append(Post(ledger.reversal(original, r["transaction_id"]), r["company_id"],
                          r["merchant_id"], reverses=r["id"], at=at, livemode=livemode))
    return await post_many(conn, posts)
