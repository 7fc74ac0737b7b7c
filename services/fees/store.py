"""All SQL of the fees service."""

from __future__ import annotations

from decimal import Decimal, localcontext

import asyncpg

from services.fees.domain import Rule
from services.fees.models import ChargeFields
from shared.db import bounded_total, snapshot

CHARGE_COLUMNS = """id, scope, merchant_id, company_id, merchant_user_name, charge_type,
    charge_source, charge_category, status, currency, value, statement_narration,
    min_threshold, max_threshold, pl_account, allow_above_amount, created_at, updated_at"""


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros, exactly (normalize() rounds past 28 digits)."""
    with localcontext() as ctx:
        ctx.prec = 200
        return value.normalize()


def to_rule(row: asyncpg.Record) -> Rule:
    return Rule(id=row["id"], scope=row["scope"], merchant_id=row["merchant_id"],
                charge_type=row["charge_type"], category=row["charge_category"],
                status=row["status"], currency=row["currency"],
                value=_plain(Decimal(row["value"])),
                min_threshold=Decimal(row["min_threshold"]),
                max_threshold=None if row["max_threshold"] is None
                else Decimal(row["max_threshold"]),
                allow_above_amount=row["allow_above_amount"])


async def load_rules(conn: asyncpg.Connection) -> tuple[int, list[Rule]]:
    """Every live ACTIVE rule, and the rules' version, from one snapshot: what the quote
    cache holds."""
    async with snapshot(conn):
        version = await rules_version(conn)
        rows = await conn.fetch(
            f"SELECT {CHARGE_COLUMNS} FROM charges "
            "WHERE deleted_at IS NULL AND status = 'ACTIVE'")
    return version, [to_rule(r) for r in rows]


async def rules_version(conn: asyncpg.Connection) -> int:
    """Bumped by every change to the rules (migration 0002's trigger)."""
    return int(await conn.fetchval("SELECT version FROM rules_version"))


# Charge rules CRUD ---------------------------------------------------------------
# Every lookup takes the caller's scope: `company_id` (None for SUPER and for SYSTEM
# rules) and `only_merchant` (a MERCHANT caller's own merchant). A rule outside the
# scope, or soft-deleted, reads as missing, so handlers answer 404.

def _rule_values(rule: ChargeFields) -> list:
    return [rule.charge_type, rule.charge_source, rule.charge_category, rule.status,
            rule.currency, rule.value, rule.statement_narration, rule.min_threshold,
            rule.max_threshold, rule.pl_account, rule.allow_above_amount]


async def insert_charge(conn: asyncpg.Connection, rule: ChargeFields, *, scope: str,
                        merchant_id: int | None = None, company_id: int | None = None,
                        merchant_user_name: str | None = None) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""INSERT INTO charges (charge_type, charge_source, charge_category, status, currency,
                                 value, statement_narration, min_threshold, max_threshold,
                                 pl_account, allow_above_amount, scope, merchant_id,
                                 company_id, merchant_user_name)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
            RETURNING {CHARGE_COLUMNS}""",
        *_rule_values(rule), scope, merchant_id, company_id, merchant_user_name)


async def charge_by_id(conn: asyncpg.Connection, charge_id: int, *, scope: str,
                       company_id: int | None = None, only_merchant: int | None = None,
                       for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT {CHARGE_COLUMNS} FROM charges
            WHERE id = $1 AND scope = $2 AND deleted_at IS NULL
              AND ($3::bigint IS NULL OR company_id = $3)
              AND ($4::bigint IS NULL OR merchant_id = $4)
            {"FOR UPDATE" if for_update else ""}""",
        charge_id, scope, company_id, only_merchant)


async def list_charges(conn: asyncpg.Connection, *, scope: str, company_id: int | None = None,
                       only_merchant: int | None = None, currency: str | None = None,
                       status: str | None = None, category: str | None = None, limit: int,
                       offset: int) -> tuple[list[asyncpg.Record], int, bool]:
    """(a page by id, the filter's total, whether that total is an estimate:
    shared.db.bounded_total)."""
    where = """scope = $1 AND deleted_at IS NULL
               AND ($2::bigint IS NULL OR company_id = $2)
               AND ($3::bigint IS NULL OR merchant_id = $3)
               AND ($4::text IS NULL OR currency = $4)
               AND ($5::text IS NULL OR status = $5)
               AND ($6::text IS NULL OR charge_category = $6)"""
    args = [scope, company_id, only_merchant, currency, status, category]
    async with snapshot(conn):
        rows = await conn.fetch(f"SELECT {CHARGE_COLUMNS} FROM charges WHERE {where} ORDER BY id "
                                "LIMIT $7 OFFSET $8", *args, limit, offset)
        total, estimated = await bounded_total(conn, f"FROM charges WHERE {where}", *args,
                                               order_by="ORDER BY id")
    return rows, total, estimated


async def replace_charge(conn: asyncpg.Connection, charge_id: int,
                         rule: ChargeFields) -> asyncpg.Record:
    """Every rule field replaced; the scope and merchant never change."""
    return await conn.fetchrow(
        f"""UPDATE charges SET charge_type = $2, charge_source = $3, charge_category = $4,
                   status = $5, currency = $6, value = $7, statement_narration = $8,
                   min_threshold = $9, max_threshold = $10, pl_account = $11,
                   allow_above_amount = $12, updated_at = now()
            WHERE id = $1 RETURNING {CHARGE_COLUMNS}""",
        charge_id, *_rule_values(rule))


async def delete_charge(conn: asyncpg.Connection, charge_id: int) -> asyncpg.Record:
    """Soft delete: the row stays for audit, the engine and every list forget it."""
    return await conn.fetchrow(
        f"""UPDATE charges SET deleted_at = now(), updated_at = now()
            WHERE id = $1 RETURNING {CHARGE_COLUMNS}""", charge_id)
