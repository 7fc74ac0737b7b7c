"""Upgrading a billing schema that has books from before payouts (migration 0005): each
customer wallet's balance becomes one pending movement, so the payouts tick releases it
and pending, available and the movements agree from the first day."""

from __future__ import annotations

import secrets
from pathlib import Path

import asyncpg

from shared.db import apply_migrations, discover

MIGRATIONS = discover(Path(__file__).resolve().parents[2] / "services" / "billing"
                      / "migrations")


async def test_the_wallets_of_old_books_become_movements(settings):
    schema = f"billing_upgrade_{secrets.token_hex(3)}"
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        before = [m for m in MIGRATIONS if m.version < "0005"]
        await apply_migrations(conn, schema, before)
        await conn.execute(
            """INSERT INTO ledger_accounts (company_id, merchant_id, livemode, code, name,
                   type, currency, debits, credits) VALUES
               (1, 7, false, 'customer_wallet', 'Customer USD Wallet', 'asset', 'USD', 5000, 300),
               (1, 7, true, 'customer_wallet', 'Customer USD Wallet', 'asset', 'USD', 900, 900),
               (1, 7, false, 'revenue:product_sales', 'Revenue', 'revenue', 'USD', 0, 5000)""")
        applied = await apply_migrations(conn, schema, MIGRATIONS)
        assert "0005_payouts" in applied
        rows = await conn.fetch("SELECT merchant_id, livemode, currency, type, amount, released "
                                "FROM balance_transactions")
        # the live book's wallet is empty: nothing to move; the test one holds 4700
        assert [tuple(r) for r in rows] == [(7, False, "USD", "adjustment", 4700, False)]
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
