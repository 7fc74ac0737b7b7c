"""SQL of the sandbox rails: the NOR wallet sandbox's balances (table sandbox_wallets,
in checkout's schema: the connection is checkout's, within the payment's transaction)."""

from __future__ import annotations

import asyncpg


async def debit_wallet(conn: asyncpg.Connection, address: str, amount: int, *,
                       opening: int) -> bool:
    """Debit `amount` from the sandbox wallet at `address`, opened with `opening` on
    first use; False (nothing debited) when its balance does not cover it."""
    await conn.execute("INSERT INTO sandbox_wallets (address, balance) VALUES ($1, $2) "
                       "ON CONFLICT DO NOTHING", address, opening)
    debited = await conn.fetchval(
        "UPDATE sandbox_wallets SET balance = balance - $2 WHERE address = $1 "
        "AND balance >= $2 RETURNING balance", address, amount)
    return debited is not None
