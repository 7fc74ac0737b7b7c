"""SQL of settlement accounts (table settlement_accounts, migration 0004). A deleted
account (deleted_at set) is never listed, read or paid; lookups are by merchant, so
another merchant's account reads as missing."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.billing import rails
from services.billing.settlement_accounts import AccountValues, SettlementAccount
from shared.crypto import SecretBox
from shared.db import bounded_total, snapshot
from shared.settings import Settings

_COLUMNS = """id AS pk, settlement_account_id, company_id, merchant_id, type, currency,
              bank_name, branch_code, account_name, number_sealed, number_last4, is_default,
              created_at, updated_at, deleted_at"""


def sealer(settings: Settings) -> SecretBox:
    """The one key settlement account numbers (and payouts' destinations) are sealed
    with, at rest."""
    return SecretBox(settings, "settlement-account")


def _account(row: asyncpg.Record) -> SettlementAccount:
    return SettlementAccount.model_validate(dict(row))


async def lock_merchant(conn: asyncpg.Connection, merchant_id: int) -> None:
    """Serialise changes of one merchant's accounts until the transaction ends: two
    first accounts of a currency added at once would both be its default."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                       f"billing.settlement_accounts:{merchant_id}")


async def insert(conn: asyncpg.Connection, *, settlement_account_id: str, company_id: int,
                 merchant_id: int, values: AccountValues, number_sealed: str,
                 number_last4: str, is_default: bool, now: datetime) -> SettlementAccount:
    row = await conn.fetchrow(
        f"""INSERT INTO settlement_accounts (settlement_account_id, company_id, merchant_id,
                type, currency, bank_name, branch_code, account_name, number_sealed,
                number_last4, is_default, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
            RETURNING {_COLUMNS}""",
        settlement_account_id, company_id, merchant_id, values.type, values.currency,
        values.bank_name, values.branch_code, values.account_name, number_sealed,
        number_last4, is_default, now)
    return _account(row)


async def account(conn: asyncpg.Connection, settlement_account_id: str, *, merchant_id: int,
                  for_update: bool = False) -> SettlementAccount | None:
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM settlement_accounts
            WHERE settlement_account_id = $1 AND merchant_id = $2 AND deleted_at IS NULL
            {"FOR UPDATE" if for_update else ""}""", settlement_account_id, merchant_id)
    return None if row is None else _account(row)


async def accounts_page(conn: asyncpg.Connection, *, merchant_id: int, currency: str | None,
                        limit: int, offset: int
                        ) -> tuple[list[SettlementAccount], int, bool]:
    """(a page by id, the filter's total, whether that total is an estimate:
    shared.db.bounded_total)."""
    where = """WHERE merchant_id = $1 AND deleted_at IS NULL
                 AND ($2::text IS NULL OR currency = $2)"""
    oldest_first = "ORDER BY id"
    async with snapshot(conn):
        total, estimated = await bounded_total(conn, f"FROM settlement_accounts {where}",
                                               merchant_id, currency, order_by=oldest_first)
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM settlement_accounts {where} {oldest_first} "
            f"LIMIT {int(limit)} OFFSET {int(offset)}", merchant_id, currency)
    return [_account(r) for r in rows], total, estimated


async def others_in_currency(conn: asyncpg.Connection, *, merchant_id: int, currency: str,
                             except_pk: int | None = None) -> bool:
    """Whether the merchant has live accounts of `currency` besides `except_pk`."""
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM settlement_accounts
                          WHERE merchant_id = $1 AND currency = $2 AND deleted_at IS NULL
                            AND ($3::bigint IS NULL OR id <> $3))""",
        merchant_id, currency, except_pk))


async def clear_default(conn: asyncpg.Connection, *, merchant_id: int, currency: str,
                        now: datetime) -> None:
    """No account of the currency is the default any more (before another becomes it:
    the one-default index holds at every statement)."""
    await conn.execute(
        """UPDATE settlement_accounts SET is_default = false, updated_at = $3
           WHERE merchant_id = $1 AND currency = $2 AND is_default""",
        merchant_id, currency, now)


async def update(conn: asyncpg.Connection, pk: int, *, values: AccountValues,
                 number_sealed: str | None, number_last4: str | None, is_default: bool,
                 now: datetime) -> SettlementAccount:
    """Replace the account's values; a None number keeps the stored one."""
    row = await conn.fetchrow(
        f"""UPDATE settlement_accounts
               SET type = $2, currency = $3, bank_name = $4, branch_code = $5,
                   account_name = $6, number_sealed = coalesce($7, number_sealed),
                   number_last4 = coalesce($8, number_last4), is_default = $9,
                   updated_at = $10
             WHERE id = $1
         RETURNING {_COLUMNS}""",
        pk, values.type, values.currency, values.bank_name, values.branch_code,
        values.account_name, number_sealed, number_last4, is_default, now)
    return _account(row)


async def soft_delete(conn: asyncpg.Connection, pk: int, *, now: datetime) -> SettlementAccount:
    row = await conn.fetchrow(
        f"""UPDATE settlement_accounts
               SET deleted_at = $2, updated_at = $2, is_default = false
             WHERE id = $1
         RETURNING {_COLUMNS}""", pk, now)
    return _account(row)


async def payout_destination(conn: asyncpg.Connection, box: SecretBox, *, merchant_id: int,
                             currency: str,
                             settlement_account_id: str | None) -> rails.Destination | None:
    """Where a payout of `currency` goes: the named account (the merchant's, not deleted,
    of that currency) or, when none is named, the currency's default; None if none."""
    currency = currency.upper()
    if settlement_account_id is not None:
        row = await conn.fetchrow(
            f"""SELECT {_COLUMNS} FROM settlement_accounts
                WHERE settlement_account_id = $1 AND merchant_id = $2 AND currency = $3
                  AND deleted_at IS NULL""", settlement_account_id, merchant_id, currency)
    else:
        row = await conn.fetchrow(
            f"""SELECT {_COLUMNS} FROM settlement_accounts
                WHERE merchant_id = $1 AND currency = $2 AND is_default
                  AND deleted_at IS NULL""", merchant_id, currency)
    if row is None:
        return None
    found = _account(row)
    return found.destination(box.open(found.number_sealed))
