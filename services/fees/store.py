"""All SQL of the fees service."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from services.fees.domain import Rule

CHARGE_COLUMNS = """id, scope, merchant_id, company_id, merchant_user_name, charge_type,
    charge_source, charge_category, status, currency, value, statement_narration,
    min_threshold, max_threshold, pl_account, allow_above_amount, created_at, updated_at"""


def to_rule(row: asyncpg.Record) -> Rule:
    return Rule(id=row["id"], scope=row["scope"], merchant_id=row["merchant_id"],
                charge_type=row["charge_type"], category=row["charge_category"],
                status=row["status"], currency=row["currency"],
                value=Decimal(row["value"]).normalize(),
                min_threshold=Decimal(row["min_threshold"]),
                max_threshold=None if row["max_threshold"] is None
                else Decimal(row["max_threshold"]),
                allow_above_amount=row["allow_above_amount"])


async def load_rules(conn: asyncpg.Connection) -> list[Rule]:
    """Every live ACTIVE rule: what the quote cache holds."""
    rows = await conn.fetch(
        f"SELECT {CHARGE_COLUMNS} FROM charges WHERE deleted_at IS NULL AND status = 'ACTIVE'")
    return [to_rule(r) for r in rows]
