"""Housekeeping (issue 21 item 5, docs/housekeeping.md): every service prunes what is
past its retention on a schedule, in batches, under a lock per prune, against the real
PostgreSQL. Rows are made through the services' own stores and then aged in SQL, as
time would have aged them; each prune is the service's own (its `prunes()`)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp import web

from services.auth import housekeeping as auth_housekeeping
from services.auth import store as auth_store
from services.billing import housekeeping as billing_housekeeping
from services.billing import store as billing_store
from services.billing.context import CLOCK, SystemClock
from services.gateway import housekeeping as gateway_housekeeping
from services.gateway.idempotency import IdempotencyStore
from services.gateway.ratelimit import RateLimiter
from services.notifier import housekeeping as notifier_housekeeping
from services.notifier.email import store as notifier_store
from services.notifier.webhooks import domain as webhooks_domain
from services.notifier.webhooks import store as webhooks_store
from services.notifier.webhooks import use_cases as webhooks_use_cases
from shared.db import create_pool
from shared.housekeeping import Prune, run_all, run_prune
from shared.http.app import create_app
from shared.http.errors import ApiError, Errors
from shared.settings import Settings
from tests.conftest import serve
from tests.integration.conftest import migrate
from tests.support.auth import make_company_admin
from tests.support.net import free_port
from tests.support.poll import poll_until

SERVICES = ("gateway", "auth", "notifier", "billing")
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
async def pools(settings):
    out: dict[str, asyncpg.Pool] = {}
    for service in SERVICES:
        await migrate(settings, service)
        out[service] = await create_pool(settings.dsn_of(service), schema=service,
                                         application_name="tests-housekeeping")
    yield out
    for pool in out.values():
        await pool.close()


async def replica_pool(settings, service: str) -> asyncpg.Pool:
    """Another replica's pool: its own connections, so its own advisory-lock sessions."""
    return await create_pool(settings.dsn_of(service), schema=service,
                             application_name="tests-housekeeping-replica")


def prunes_of(service: str, settings) -> list[Prune]:
    if service == "billing":
        app = web.Application()
        app[CLOCK] = SystemClock()
        return billing_housekeeping.prunes(app)
    module = {"gateway": gateway_housekeeping, "auth": auth_housekeeping,
              "notifier": notifier_housekeeping}[service]
    return module.prunes(settings)


@dataclass
class Env:
    settings: Settings
    pool: asyncpg.Pool
    tag: str


Ids = set
Seed = Callable[[Env, int], Awaitable[tuple[Ids, Ids]]]
Left = Callable[[Env, Ids], Awaitable[Ids]]


@dataclass(frozen=True)
class Case:
    """One prune: `seed(env, n)` makes at least n rows past the retention and some
    within it, returning (past, within) ids; `left(env, ids)` the ids still kept (the
    row there, or for a column's prune its value); `kept` counts the whole table's kept
    rows, so double counting would show."""

    service: str
    prune: str
    seed: Seed
    left: Left
    kept: str

    def __str__(self) -> str:
        return f"{self.service}.{self.prune}"


async def _ids(pool: asyncpg.Pool, sql: str, *args) -> set:
    return {tuple(r.values()) if len(r) > 1 else r[0] for r in await pool.fetch(sql, *args)}


# gateway ---------------------------------------------------------------------------

FINGERPRINT = b"\x01" * 32


def _scope(env: Env) -> str:
    return f"user:hk{env.tag} POST /api/v2/payments/create"


async def seed_idempotency_keys(env: Env, n: int):
    store = IdempotencyStore(env.pool, env.settings)
    scope = _scope(env)

    async def done(key: str) -> None:
        owner = await store.claim(scope, key, FINGERPRINT)
        assert isinstance(owner, uuid.UUID)
        assert await store.complete(scope, key, owner, FINGERPRINT, 201,
                                    [["Content-Type", "application/json"]], b"{}")

    old = [f"old-{i}" for i in range(n)]
    for i, key in enumerate(old):
        if i % 2:
            await store.claim(scope, key, FINGERPRINT)  # a claim a dead replica left
        else:
            await done(key)
    await done("done-live")
    await store.claim(scope, "claim-live", FINGERPRINT)
    await env.pool.execute(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' "
        "WHERE scope = $1 AND key = ANY($2)", scope, old)
    return set(old), {"done-live", "claim-live"}


async def left_idempotency_keys(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT key FROM idempotency_keys WHERE scope = $1 "
                      "AND key = ANY($2)", _scope(env), list(ids))


async def seed_rate_limit_counters(env: Env, n: int):
    now = datetime.now(UTC)
    old: set = set()
    for i in range((n + 1) // 2):  # a minute and a day window each
        merchant = f"hk{env.tag}-old-{i}"
        await RateLimiter(env.pool, clock=lambda: now - 3 * DAY).hit(merchant, "STARTER")
        old |= {(merchant, "minute"), (merchant, "day")}
    merchant = f"hk{env.tag}-new"
    # Its minute ended two hours ago: kept a day after that.
    await RateLimiter(env.pool, clock=lambda: now - timedelta(hours=2)).hit(merchant, "STARTER")
    return old, {(merchant, "minute"), (merchant, "day")}


async def left_rate_limit_counters(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT merchant_id, window_kind FROM rate_limit_counters "
                      "WHERE merchant_id LIKE $1", f"hk{env.tag}-%") & ids


# auth ------------------------------------------------------------------------------

async def seed_sign_in_throttle(env: Env, n: int):
    forget = env.settings.sign_in_lock_seconds
    old = [f"pair:hk{env.tag}-{i}@example.com|10.9.0.{i}" for i in range(n)]
    recent, delayed = f"acct:hk{env.tag}-recent", f"acct:hk{env.tag}-delayed"
    async with env.pool.acquire() as conn:
        for key in [*old, recent, delayed]:
            assert await auth_store.claim_sign_in(conn, key, forget_after=forget) == 1
        for i, key in enumerate(old):
            if i % 2:  # a delay that ran out long ago
                await auth_store.delay_sign_ins(conn, key, 1)
        await conn.execute(
            """UPDATE sign_in_throttle SET last_at = now() - make_interval(secs => $2),
                      blocked_until = CASE WHEN blocked_until IS NULL THEN NULL
                                           ELSE now() - make_interval(secs => $2) END
               WHERE key = ANY($1)""", old, forget + 60)
        # Its last attempt is as old, but its delay still runs: it stays.
        await auth_store.delay_sign_ins(conn, delayed, 600)
        await conn.execute("UPDATE sign_in_throttle SET last_at = now() - "
                           "make_interval(secs => $2) WHERE key = $1", delayed, forget + 60)
    return set(old), {recent, delayed}


async def left_sign_in_throttle(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT key FROM sign_in_throttle WHERE key = ANY($1)",
                      list(ids))


def _account(env: Env) -> str:
    return f"hk{env.tag}@example.com"


async def seed_sign_in_clients(env: Env, n: int):
    old = [f"10.8.0.{i}" for i in range(n)]
    new = ["10.8.1.1", "10.8.1.2"]
    async with env.pool.acquire() as conn:
        for client in old + new:
            await auth_store.remember_client(conn, _account(env), client)
        await conn.execute("UPDATE sign_in_clients SET last_at = now() - interval '31 days' "
                           "WHERE account = $1 AND client = ANY($2)", _account(env), old)
        await conn.execute("UPDATE sign_in_clients SET last_at = now() - interval '29 days' "
                           "WHERE account = $1 AND client = $2", _account(env), new[0])
    return set(old), set(new)


async def left_sign_in_clients(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT client FROM sign_in_clients WHERE account = $1 "
                      "AND client = ANY($2)", _account(env), list(ids))


async def seed_public_write_counters(env: Env, n: int):
    old = [f"sign-up:client:hk{env.tag}-{i}" for i in range(n)]
    new = [f"sign-up:client:hk{env.tag}-now", f"sign-up:client:hk{env.tag}-today"]
    async with env.pool.acquire() as conn:
        for key in old + new:
            assert await auth_store.count_public_write(conn, key, limit=10,
                                                       window_seconds=3600) is None
        await conn.execute("UPDATE public_write_counters SET window_start = window_start - "
                           "interval '2 days' WHERE key = ANY($1)", old)
        await conn.execute("UPDATE public_write_counters SET window_start = window_start - "
                           "interval '23 hours' WHERE key = $1", new[1])
    return set(old), set(new)


async def left_public_write_counters(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT key FROM public_write_counters WHERE key = ANY($1)",
                      list(ids))


async def seed_email_confirmations(env: Env, n: int):
    user = await make_company_admin(env.settings, enabled=False)
    now = datetime.now(UTC)
    old = [f"hk{env.tag}-old-{i}" for i in range(n)]
    async with env.pool.acquire() as conn:
        for i, token in enumerate(old):
            if i % 2:  # never used, expired 8 days ago
                await auth_store.add_confirmation(conn, user.user_id, token, now - 8 * DAY)
            else:  # used 8 days ago
                await auth_store.add_confirmation(conn, user.user_id, token, now + DAY)
                assert await auth_store.use_confirmation(conn, token) is not None
                await conn.execute("UPDATE email_confirmations SET used_at = now() - "
                                   "interval '8 days' WHERE token_hash = $1", token)
        pending, expired, used = (f"hk{env.tag}-{k}" for k in ("pending", "expired", "used"))
        await auth_store.add_confirmation(conn, user.user_id, pending, now + DAY, "invite")
        await auth_store.add_confirmation(conn, user.user_id, expired, now - 6 * DAY)
        await auth_store.add_confirmation(conn, user.user_id, used, now + DAY)
        assert await auth_store.use_confirmation(conn, used) is not None
    return set(old), {pending, expired, used}


async def left_email_confirmations(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT token_hash FROM email_confirmations "
                      "WHERE token_hash = ANY($1)", list(ids))


async def seed_refresh_tokens(env: Env, n: int):
    user = await make_company_admin(env.settings)
    now = datetime.now(UTC)
    old = [f"hk{env.tag}-old-{i}" for i in range(n)]
    live_family = uuid.uuid4()
    async with env.pool.acquire() as conn:
        for i, token in enumerate(old):
            family = uuid.uuid4()
            if i % 2:  # expired 8 days ago
                await auth_store.add_refresh_token(conn, token_hash=token, family=family,
                                                   user_id=user.user_id,
                                                   expires_at=now - 8 * DAY)
            else:  # signed out 8 days ago
                await auth_store.add_refresh_token(conn, token_hash=token, family=family,
                                                   user_id=user.user_id,
                                                   expires_at=now + DAY)
                await auth_store.revoke_family(conn, family)
                await conn.execute("UPDATE refresh_tokens SET revoked_at = now() - "
                                   "interval '8 days' WHERE token_hash = $1", token)
        used, current, revoked, expired = (f"hk{env.tag}-{k}" for k in (
            "used", "current", "revoked", "expired"))
        # A live session: its rotated (used) token and its current one stay.
        for token in (used, current):
            await auth_store.add_refresh_token(conn, token_hash=token, family=live_family,
                                               user_id=user.user_id, expires_at=now + DAY)
        await auth_store.mark_refresh_used(conn, used)
        family = uuid.uuid4()
        await auth_store.add_refresh_token(conn, token_hash=revoked, family=family,
                                           user_id=user.user_id, expires_at=now + DAY)
        await auth_store.revoke_family(conn, family)  # a day ago, within the retention
        await conn.execute("UPDATE refresh_tokens SET revoked_at = now() - interval '1 day' "
                           "WHERE token_hash = $1", revoked)
        await auth_store.add_refresh_token(conn, token_hash=expired, family=uuid.uuid4(),
                                           user_id=user.user_id, expires_at=now - 6 * DAY)
    return set(old), {used, current, revoked, expired}


async def left_refresh_tokens(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT token_hash FROM refresh_tokens "
                      "WHERE token_hash = ANY($1)", list(ids))


# notifier --------------------------------------------------------------------------

async def _endpoint(conn: asyncpg.Connection, env: Env, merchant_id: int):
    # Disabled: no dispatcher of another test ever sends to it.
    return await webhooks_store.insert_endpoint(
        conn, endpoint_id=f"ep_hk{env.tag}{secrets.token_hex(4)}", company_id=merchant_id,
        merchant_id=merchant_id, url="http://127.0.0.1:9/hook", event_types=["*"],
        enabled=False, ordered=False, description=None, sealed_secret="sealed")


async def _event(conn: asyncpg.Connection, endpoint, *, delivered: bool,
                 response_body: str = "ok") -> tuple[uuid.UUID, int]:
    """An event fanned out to `endpoint`: its delivery succeeded or is still pending."""
    event_id = uuid.uuid4()
    merchant = endpoint["merchant_id"]
    await webhooks_store.insert_events(conn, [(
        event_id, "payment.completed", merchant, merchant, datetime.now(UTC), False,
        webhooks_domain.payload(event_id=str(event_id), event_type="payment.completed",
                                occurred_at=datetime.now(UTC), data={"n": 1},
                                livemode=False))])
    seqs = await webhooks_store.insert_deliveries(
        conn, [(webhooks_domain.new_delivery_id(), endpoint["endpoint_id"], event_id)], "event")
    [seq] = seqs.values()
    await webhooks_store.record_attempt(
        conn, seq=seq, attempt=1, status_code=200 if delivered else 503,
        error=None if delivered else "HTTP 503", response_ms=5, response_body=response_body,
        status="succeeded" if delivered else "pending",
        next_attempt_at=None if delivered else datetime.now(UTC) + DAY)
    return event_id, seq


def _merchant() -> int:
    return 10**12 + secrets.randbelow(10**12)


async def seed_event_payloads(env: Env, n: int):
    async with env.pool.acquire() as conn:
        endpoint = await _endpoint(conn, env, _merchant())
        old = [(await _event(conn, endpoint, delivered=True))[0] for _ in range(n)]
        recent, _ = await _event(conn, endpoint, delivered=True)
        waiting, _ = await _event(conn, endpoint, delivered=False)  # still to be sent
        await conn.execute("UPDATE webhook_events SET created_at = now() - interval '31 days'"
                           " WHERE event_id = ANY($1)", [*old, waiting])
        await conn.execute("UPDATE webhook_events SET created_at = now() - interval '29 days'"
                           " WHERE event_id = $1", recent)
    return set(old), {recent, waiting}


async def left_event_payloads(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT event_id FROM webhook_events WHERE event_id = ANY($1)"
                      " AND body IS NOT NULL", list(ids))


async def seed_attempt_bodies(env: Env, n: int):
    async with env.pool.acquire() as conn:
        endpoint = await _endpoint(conn, env, _merchant())
        seqs = [(await _event(conn, endpoint, delivered=True))[1] for _ in range(n + 1)]
        _, pending = await _event(conn, endpoint, delivered=False, response_body="busy")
        ids = {r["delivery_seq"]: r["id"] for r in await conn.fetch(
            "SELECT id, delivery_seq FROM webhook_attempts WHERE delivery_seq = ANY($1)",
            [*seqs, pending])}
        old = [ids[s] for s in seqs[:-1]]
        await conn.execute("UPDATE webhook_attempts SET attempted_at = now() - interval "
                           "'31 days' WHERE id = ANY($1)", [*old, ids[pending]])
        await conn.execute("UPDATE webhook_attempts SET attempted_at = now() - interval "
                           "'29 days' WHERE id = $1", ids[seqs[-1]])
    return set(old), {ids[seqs[-1]], ids[pending]}


async def left_attempt_bodies(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT id FROM webhook_attempts WHERE id = ANY($1) "
                      "AND response_body IS NOT NULL", list(ids))


async def seed_manual_sends(env: Env, n: int):
    old = [_merchant() for _ in range(n)]
    new = [_merchant(), _merchant()]
    async with env.pool.acquire() as conn:
        for tenant in old + new:
            granted, _, _ = await webhooks_store.take_manual_sends(conn, tenant, 1, 10)
            assert granted
        await conn.execute("UPDATE webhook_manual_sends SET window_start = window_start - "
                           "interval '2 hours' WHERE merchant_id = ANY($1)", old)
        await conn.execute("UPDATE webhook_manual_sends SET window_start = window_start - "
                           "interval '30 minutes' WHERE merchant_id = $1", new[0])
    return set(old), set(new)


async def left_manual_sends(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT merchant_id FROM webhook_manual_sends "
                      "WHERE merchant_id = ANY($1)", list(ids))


async def seed_recipient_sends(env: Env, n: int):
    old = [f"hk{env.tag}-{i}@example.com" for i in range(n)]
    new = [f"hk{env.tag}-now@example.com", f"hk{env.tag}-lately@example.com"]
    async with env.pool.acquire() as conn:
        # forget=0: the send's own forgetting would take old rows of other tests too.
        await notifier_store.count_sends(conn, old + new, 3600, forget=0)
        await conn.execute("UPDATE email_recipient_sends SET sent_at = now() - "
                           "interval '2 hours' WHERE address = ANY($1)", old)
        await conn.execute("UPDATE email_recipient_sends SET sent_at = now() - "
                           "interval '30 minutes' WHERE address = $1", new[1])
    return set(old), set(new)


async def left_recipient_sends(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT address FROM email_recipient_sends "
                      "WHERE address = ANY($1)", list(ids))


async def seed_emails(env: Env, n: int):
    old = [uuid.uuid4() for _ in range(n)]
    new = [uuid.uuid4(), uuid.uuid4()]
    async with env.pool.acquire() as conn:
        for event_id in old + new:
            await notifier_store.record_email(
                conn, event_id=event_id, recipients=[f"hk{env.tag}@example.com"],
                subject="Confirm your address", correlation_id=None, message_id="<m@x>")
        await conn.execute("UPDATE emails SET sent_at = now() - interval '91 days' "
                           "WHERE event_id = ANY($1)", old)
        await conn.execute("UPDATE emails SET sent_at = now() - interval '89 days' "
                           "WHERE event_id = $1", new[0])
    return set(old), set(new)


async def left_emails(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT event_id FROM emails WHERE event_id = ANY($1)",
                      list(ids))


# billing ---------------------------------------------------------------------------

async def seed_invoice_sends(env: Env, n: int):
    now = datetime.now(UTC)
    merchant = _merchant()
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)  # the send itself forgets nothing
    async with env.pool.acquire() as conn:
        invoice = await billing_store.insert_invoice(
            conn, invoice_id=f"inv_hk{env.tag}", invoice_number=f"HK-{env.tag}",
            company_id=merchant, merchant_id=merchant, status="open",
            customer={"name": "Acme", "email": "billing@acme.example"},
            items=[{"description": "Pro", "quantity": 1, "unitPrice": "100"}],
            currency="NOR", subtotal=100, tax=0, total=100, due_date=now + DAY,
            livemode=False, now=now)
        for i in range(n):
            await billing_store.record_invoice_send(
                conn, invoice_pk=invoice["id"], merchant_id=merchant,
                recipient=f"r{i}@acme.example", now=now - timedelta(hours=2), since=long_ago)
        for ago in (timedelta(minutes=30), timedelta(0)):
            await billing_store.record_invoice_send(
                conn, invoice_pk=invoice["id"], merchant_id=merchant,
                recipient="billing@acme.example", now=now - ago, since=long_ago)
        rows = await conn.fetch("SELECT id, sent_at FROM invoice_sends WHERE invoice_pk = $1",
                                invoice["id"])
    cut = now - timedelta(hours=1)
    return ({r["id"] for r in rows if r["sent_at"] < cut},
            {r["id"] for r in rows if r["sent_at"] >= cut})


async def left_invoice_sends(env: Env, ids: Ids) -> Ids:
    return await _ids(env.pool, "SELECT id FROM invoice_sends WHERE id = ANY($1)", list(ids))


CASES = [
    Case("gateway", "idempotency_keys", seed_idempotency_keys, left_idempotency_keys,
         "SELECT count(*) FROM idempotency_keys"),
    Case("gateway", "rate_limit_counters", seed_rate_limit_counters,
         left_rate_limit_counters, "SELECT count(*) FROM rate_limit_counters"),
    Case("auth", "sign_in_throttle", seed_sign_in_throttle, left_sign_in_throttle,
         "SELECT count(*) FROM sign_in_throttle"),
    Case("auth", "sign_in_clients", seed_sign_in_clients, left_sign_in_clients,
         "SELECT count(*) FROM sign_in_clients"),
    Case("auth", "public_write_counters", seed_public_write_counters,
         left_public_write_counters, "SELECT count(*) FROM public_write_counters"),
    Case("auth", "email_confirmations", seed_email_confirmations, left_email_confirmations,
         "SELECT count(*) FROM email_confirmations"),
    Case("auth", "refresh_tokens", seed_refresh_tokens, left_refresh_tokens,
         "SELECT count(*) FROM refresh_tokens"),
    Case("notifier", "webhook_events.body", seed_event_payloads, left_event_payloads,
         "SELECT count(*) FROM webhook_events WHERE body IS NOT NULL"),
    Case("notifier", "webhook_attempts.response_body", seed_attempt_bodies,
         left_attempt_bodies,
         "SELECT count(*) FROM webhook_attempts WHERE response_body IS NOT NULL"),
    Case("notifier", "webhook_manual_sends", seed_manual_sends, left_manual_sends,
         "SELECT count(*) FROM webhook_manual_sends"),
    Case("notifier", "email_recipient_sends", seed_recipient_sends, left_recipient_sends,
         "SELECT count(*) FROM email_recipient_sends"),
    Case("notifier", "emails", seed_emails, left_emails, "SELECT count(*) FROM emails"),
    Case("billing", "invoice_sends", seed_invoice_sends, left_invoice_sends,
         "SELECT count(*) FROM invoice_sends"),
]


CASE = {str(c): c for c in CASES}


def _prune(case: Case, settings) -> Prune:
    [prune] = [p for p in prunes_of(case.service, settings) if p.name == case.prune]
    return prune


async def _drain(pool: asyncpg.Pool, prune: Prune) -> None:
    """What earlier tests left past its retention, so counts below are this test's."""
    run = await run_prune(pool, prune, batch_size=1000)
    assert run.ran and run.done


def test_every_prune_of_every_service_is_tested(settings):
    named = {f"{s}.{p.name}" for s in SERVICES for p in prunes_of(s, settings)}
    assert named == {str(c) for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_rows_past_their_retention_go_in_one_run_and_newer_ones_stay(
        settings, pools, case, unique):
    env = Env(settings, pools[case.service], unique)
    old, new = await case.seed(env, 5)
    assert await case.left(env, old | new) == old | new

    run = await run_prune(env.pool, _prune(case, settings),
                          batch_size=settings.housekeeping_batch_size)

    assert run.ran and run.done and run.rows >= len(old)
    assert await case.left(env, old | new) == new


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_two_replicas_at_once_neither_fails_nor_counts_a_row_twice(
        settings, pools, case, unique):
    prune = _prune(case, settings)
    pool = pools[case.service]
    other = await replica_pool(settings, case.service)
    try:
        # Two replicas' rounds at once: the lock lets one through, or both in turn.
        await _drain(pool, prune)
        env = Env(settings, pool, unique)
        old, new = await case.seed(env, 12)
        before = await pool.fetchval(case.kept)
        runs = await asyncio.gather(run_prune(pool, prune, batch_size=3),
                                    run_prune(other, prune, batch_size=3))
        assert any(r.ran for r in runs)
        assert sum(r.rows for r in runs) == before - await pool.fetchval(case.kept)
        assert await case.left(env, old | new) == new

        # The statements themselves side by side, no lock: SKIP LOCKED shares the rows.
        env = Env(settings, pool, unique + "b")
        old, new = await case.seed(env, 12)
        before = await pool.fetchval(case.kept)
        counted = 0
        async with pool.acquire() as one, other.acquire() as two:
            while True:
                a, b = await asyncio.gather(prune.batch(one, 2), prune.batch(two, 2))
                counted += a + b
                if a == b == 0:
                    break
        assert counted == before - await pool.fetchval(case.kept) >= len(old)
        assert await case.left(env, old | new) == new
    finally:
        await other.close()


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_a_batch_smaller_than_the_rows_still_empties_them_over_runs(
        settings, pools, case, unique):
    prune = _prune(case, settings)
    env = Env(settings, pools[case.service], unique)
    await _drain(env.pool, prune)
    old, new = await case.seed(env, 7)

    before = await env.pool.fetchval(case.kept)

    first = await run_prune(env.pool, prune, batch_size=2, max_batches=1)
    assert first.ran and not first.done and first.rows == 2
    assert len(await case.left(env, old)) >= len(old) - 2  # the round stopped there
    runs = [first]
    while not runs[-1].done:
        runs.append(await run_prune(env.pool, prune, batch_size=2, max_batches=1))
        assert len(runs) <= len(old) + 1, "more rounds than rows"

    assert all(r.rows == 2 for r in runs[:-1]) and runs[-1].rows < 2
    assert sum(r.rows for r in runs) == before - await env.pool.fetchval(case.kept)
    assert len(runs) >= (len(old) + 1) // 2
    assert await case.left(env, old | new) == new


async def test_a_replica_skips_a_prune_another_is_running_and_takes_it_once_free(
        settings, pools):
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow(conn: asyncpg.Connection, limit: int) -> int:
        started.set()
        await finish.wait()
        return 0

    async def nothing(conn: asyncpg.Connection, limit: int) -> int:
        return 0

    other = await replica_pool(settings, "gateway")
    try:
        first = asyncio.create_task(run_prune(pools["gateway"],
                                              Prune("idempotency_keys", slow), batch_size=10))
        await asyncio.wait_for(started.wait(), 10)
        skipped = await run_prune(other, gateway_housekeeping.IDEMPOTENCY_KEYS, batch_size=10)
        # The lock is per schema: auth's prune of the same name is not held back.
        elsewhere = await run_prune(pools["auth"], Prune("idempotency_keys", nothing),
                                    batch_size=10)
        finish.set()
        assert (await first).ran
        assert not skipped.ran and skipped.rows == 0
        assert elsewhere.ran
        assert (await run_prune(other, gateway_housekeeping.IDEMPOTENCY_KEYS,
                                batch_size=10)).ran
    finally:
        finish.set()
        await other.close()


async def test_a_failing_prune_frees_its_lock_and_the_others_still_run(settings, pools, unique):
    async def broken(conn: asyncpg.Connection, limit: int) -> int:
        await conn.execute("SELECT * FROM no_such_table")
        return 0

    env = Env(settings, pools["auth"], unique)
    old, new = await seed_public_write_counters(env, 3)
    prunes = [Prune(f"broken-{unique}", broken), _prune(CASE["auth.public_write_counters"],
                                                        settings)]

    runs = await run_all(env.pool, prunes, batch_size=100)

    assert [r.name for r in runs] == ["public_write_counters"]
    assert await left_public_write_counters(env, old | new) == new

    async def taken_by_another_replica() -> bool:
        try:
            await run_prune(other, prunes[0], batch_size=100)
        except asyncpg.UndefinedTableError:
            return True  # it got the lock, and ran
        return False

    other = await replica_pool(settings, "auth")
    try:  # the failed round's session ended, and its lock with it
        await poll_until(taken_by_another_replica, timeout=5, what="the lock freed")
    finally:
        await other.close()


async def test_the_unused_sign_in_failures_table_is_dropped(pools):
    assert await pools["auth"].fetchval("SELECT to_regclass('auth.sign_in_failures')") is None
    assert await pools["auth"].fetchval("SELECT to_regclass('auth.sign_in_throttle')")


async def test_a_refresh_token_pruned_answers_as_a_revoked_one_and_live_sessions_stay(
        settings, pools, unique):
    env = Env(settings, pools["auth"], unique)
    old, new = await seed_refresh_tokens(env, 2)
    await run_prune(env.pool, _prune(CASE["auth.refresh_tokens"], settings), batch_size=100)
    async with env.pool.acquire() as conn:
        for token in old:
            assert await auth_store.refresh_token_for_update(conn, token) is None
        current = await auth_store.refresh_token_for_update(conn, f"hk{unique}-current")
        state = await auth_store.session_state(conn, current["user_id"], current["family"])
    assert state is not None and state["signed_in"]


async def test_a_pruned_payload_keeps_its_delivery_log_and_is_no_longer_redelivered(
        settings, pools, unique):
    pool = pools["notifier"]
    async with pool.acquire() as conn:
        endpoint = await _endpoint(conn, Env(settings, pool, unique), _merchant())
        old, old_seq = await _event(conn, endpoint, delivered=True)
        kept, _ = await _event(conn, endpoint, delivered=True)
        await conn.execute("UPDATE webhook_events SET created_at = now() - interval '31 days'"
                           " WHERE event_id = $1", old)
    for name in ("notifier.webhook_events.body", "notifier.webhook_attempts.response_body"):
        await run_prune(pool, _prune(CASE[name], settings), batch_size=100)

    async with pool.acquire() as conn:
        event = await conn.fetchrow("SELECT * FROM webhook_events WHERE event_id = $1", old)
        assert event["body"] is None and event["event_type"] == "payment.completed"
        delivery = await conn.fetchrow("SELECT * FROM webhook_deliveries WHERE seq = $1",
                                       old_seq)
        assert delivery["status"] == "succeeded" and delivery["last_status_code"] == 200
        [attempt] = await webhooks_store.attempts_of(conn, old_seq)
        assert attempt["status_code"] == 200 and attempt["response_body"] == "ok"  # recent

        async def redeliver(event_id: uuid.UUID) -> list[str]:
            async with conn.transaction():
                return await webhooks_use_cases.redeliver(
                    conn, endpoint, webhooks_domain.Redeliver(
                        endpointId=endpoint["endpoint_id"], eventId=str(event_id)),
                    livemode=False, per_minute=100)

        with pytest.raises(ApiError) as refused:
            await redeliver(old)
        assert refused.value.kind is Errors.NOT_FOUND
        assert len(await redeliver(kept)) == 1


# The schedule, in each service's own process -----------------------------------------

async def _gateway(settings):
    down = f"http://127.0.0.1:{free_port()}"
    from services.gateway.app import build_spec
    s = settings.model_copy(update={"auth_url": down, "checkout_url": down,
                                    "billing_url": down, "fees_url": down,
                                    "notifier_url": down})
    return create_app(s, build_spec(s))


async def _auth(settings):
    from services.auth.app import build_spec
    return create_app(settings, build_spec(settings))


async def _notifier(settings):
    from services.notifier.app import build_spec
    s = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{free_port()}"})
    return create_app(s, build_spec(s))


async def _billing(settings):
    from services.billing.app import build_spec
    return create_app(settings, build_spec(settings, run_scheduler=False))


@pytest.mark.parametrize("name, app_of", [
    ("gateway.idempotency_keys", _gateway), ("auth.refresh_tokens", _auth),
    ("notifier.webhook_events.body", _notifier), ("billing.invoice_sends", _billing)],
    ids=["gateway", "auth", "notifier", "billing"])
async def test_each_service_prunes_on_its_schedule(settings, pools, unique, name, app_of):
    case = CASE[name]
    service = case.service
    env = Env(settings, pools[service], unique)
    old, new = await case.seed(env, 3)
    fast = settings.model_copy(update={"housekeeping_interval_seconds": 0.2})
    async with serve(await app_of(fast)):
        left = await poll_until(lambda: _left_once_pruned(case, env, old | new, new),
                                timeout=15, what=f"{case} pruned by the {service} process")
    assert left == new


async def _left_once_pruned(case: Case, env: Env, ids: Ids, new: Ids) -> Ids | None:
    left = await case.left(env, ids)
    return left if left == new else None
