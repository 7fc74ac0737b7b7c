"""Sends due webhook deliveries: durable, at least once, safe with several replicas.

Each round leases due deliveries from the database (`FOR UPDATE SKIP LOCKED`, then
the next attempt time is pushed past the send: a replica that dies mid-send leaves
them to come due again), sends each in its own task, and records the attempt and
what happens next in one transaction. Endpoints that ask for ordering get one delivery
at a time, oldest first.

One tenant cannot starve the others. An endpoint that never answers (a tarpit) holds
each send until the timeout, so what one may hold is bounded, on both paths below:
each endpoint has at most `PER_ENDPOINT` sends in flight and each merchant
`webhook_merchant_share` of `webhook_concurrency` (16 of 64). A claim takes merchants in
turn, and a merchant's endpoints in turn, rather than the oldest due first. The fast
path leaves `_claim_room` slots to the claim: once the process is that busy, every slot
that frees goes by the claim's turns, not to whichever fan-out comes first.

The common case skips the claim: the webhooks consumer asks the dispatcher for room
(`reserve`) while it fans an event out, writes the deliveries it got room for already
leased (first attempt counted, due again only when the lease runs out), and hands them
over once its transaction commits (`send_leased`). The lease is the same guarantee as
a claim's: if this process dies before or during the send, the delivery comes due and
any replica's claim sends it. Ordered endpoints always go through the claim.

A merchant's webServiceUrl endpoint (source 'merchant') signs X-NorPay-Signature with
the merchant's secret, which auth holds (merchant_secrets.py), and so does a company's
(source 'company'), with the secret of each event's merchant. If auth cannot give it,
the delivery's lease is handed back to come due again shortly, its attempt not
counted: it is neither sent unsigned nor lost, and our outage does not count against
the merchant's endpoint. Endpoints registered through the API never ask for it.

The limits and turns "per merchant" are per tenant (domain.tenant_of): a
company's endpoint, which has no merchant, is a tenant of its own.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import aiohttp
import asyncpg
from prometheus_client import Counter

from services.notifier.webhooks import domain, store
from services.notifier.webhooks.merchant_secrets import (
    MerchantSecrets,
    SecretNotFound,
    SecretUnavailable,
)
from shared.aio import Coalescer, being_cancelled, cancel_and_wait
from shared.crypto import SecretBox
from shared.db import database_gone
from shared.events import OutboxRelay, UnitOfWork
from shared.http.client import InternalClient, ServiceUnavailable
from shared.logging import get_logger
from shared.outbound import addresses, signing
from shared.settings import Settings

log = get_logger(__name__)
K = TypeVar("K")
PER_ENDPOINT = 4
LEASE_MARGIN = 30.0  # seconds a lease outlives the request timeout
RESERVATION_SECONDS = 60.0  # room reserved for a fan-out is lost after this
USER_AGENT = "norgate-webhooks/1"
SECRET_RETRY_SECONDS = 5.0  # a send waiting for the merchant's secret is tried again after

ATTEMPTS = Counter("norgate_webhook_attempts_total", "Webhook delivery attempts by outcome",
                   ["outcome"])


class _Load:
    """Sends in flight plus room set aside for fan-outs, per endpoint and per merchant:
    what the limits are checked against, kept as counts so that the fast path's check
    scans nothing."""

    def __init__(self) -> None:
        self.total = 0
        self.endpoints: dict[str, int] = {}
        self.merchants: dict[int, int] = {}

    def add(self, endpoint_id: str, merchant_id: int, n: int = 1) -> None:
        self.total += n
        self.endpoints[endpoint_id] = self.endpoints.get(endpoint_id, 0) + n
        self.merchants[merchant_id] = self.merchants.get(merchant_id, 0) + n

    def remove(self, endpoint_id: str, merchant_id: int, n: int = 1) -> None:
        self.total -= n
        _take(self.endpoints, endpoint_id, n)
        _take(self.merchants, merchant_id, n)


def _take(counts: dict[K, int], key: K, n: int) -> None:
    left = counts.get(key, 0) - n
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


@dataclass
class Result:
    status_code: int | None
    error: str | None
    response_ms: int
    response_body: str | None
    retry_after: float | None


class Dispatcher:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, box: SecretBox,
                 client: InternalClient, *, relay: OutboxRelay | None = None,
                 secrets: MerchantSecrets | None = None):
        self._pool = pool
        self._settings = settings
        self._box = box
        self._client = client
        # Without the regenerate events to drop a copy, nothing is kept (ttl 0).
        self._secrets = secrets or MerchantSecrets(client, ttl=0)
        self._relay = relay
        self._strict = settings.env == "prod"
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._sends: dict[asyncio.Task, tuple[str, int]] = {}  # -> endpoint, merchant
        # Room set aside for deliveries being fanned out, to be sent once committed
        # (reserve, send_leased): endpoint id -> how many, its merchant, when last.
        self._reserved: dict[str, int] = {}
        self._reserved_by: dict[str, int] = {}
        self._reserved_at: dict[str, float] = {}
        self._load = _Load()
        # Endpoints (-> their merchant) the fast path found no room for: their later
        # deliveries go through the claim too, behind the ones waiting already, until a
        # claim finds no more of theirs. Without this, a fresh event would take each
        # slot its endpoint frees before the claim could give it to what waits.
        self._deferred: dict[str, int] = {}
        concurrency = settings.webhook_concurrency
        self.per_merchant = max(1, int(concurrency * settings.webhook_merchant_share))
        self._claim_room = min(PER_ENDPOINT, concurrency // 4)
        # Whether a claim may find something: deliveries fanned out without a lease,
        # a claim that filled every free slot, an ordered endpoint's send finishing.
        # Without one, a finished send does not wake the loop (its poll still runs).
        self._backlog = True
        self.lease_seconds = settings.webhook_timeout_seconds + LEASE_MARGIN
        self._stopping = False
        self._http: aiohttp.ClientSession | None = None
        # Successful sends finishing together are recorded by one statement.
        # One row the database refused must not leave the others unrecorded.
        self._successes = Coalescer(self._record_successes,
                                    alone_on=lambda exc: not database_gone(exc))

    def wake(self) -> None:
        self._backlog = True
        self._wake.set()

    # Deliveries sent as soon as their fan-out commits ---------------------------------

    def _in_flight(self) -> int:
        return self._load.total

    def _has_room(self, endpoint_id: str, merchant_id: int, *, leave: int = 0) -> bool:
        """Whether one more send fits every limit, `leave` slots kept free."""
        return (self._load.total < self._settings.webhook_concurrency - leave
                and self._load.endpoints.get(endpoint_id, 0) < PER_ENDPOINT
                and self._load.merchants.get(merchant_id, 0) < self.per_merchant)

    def _at_a_limit(self) -> bool:
        """Whether some endpoint or merchant is at its limit (what it has due waits)."""
        return any(n >= PER_ENDPOINT for n in self._load.endpoints.values()) or any(
            n >= self.per_merchant for n in self._load.merchants.values())

    def reserve(self, endpoint_id: str, tenant_id: int) -> bool:
        """Set aside room for one send to `endpoint_id` of `tenant_id` (its merchant,
        domain.tenant_of; within the concurrency less the claim's room, the
        per-endpoint and the per-merchant limits): its delivery is then born leased to
        this dispatcher, and sent by `send_leased` after the commit, or given back by
        `unreserve`."""
        if self._task is None or self._task.done() or self._stopping \
                or endpoint_id in self._deferred:
            return False
        if not self._has_room(endpoint_id, tenant_id, leave=self._claim_room):
            self._deferred[endpoint_id] = tenant_id
            return False
        self._reserved[endpoint_id] = self._reserved.get(endpoint_id, 0) + 1
        self._reserved_by[endpoint_id] = tenant_id
        self._reserved_at[endpoint_id] = time.monotonic()
        self._load.add(endpoint_id, tenant_id)
        return True

    def _expire_reservations(self) -> None:
        """A safety net: room reserved longer ago than any fan-out transaction lasts was
        lost (a path that neither sent nor gave it back); without this, an endpoint
        whose room leaked would be skipped by every claim."""
        now = time.monotonic()
        for endpoint_id, at in list(self._reserved_at.items()):
            if now - at > RESERVATION_SECONDS:
                lost = self._reserved.pop(endpoint_id, 0)
                merchant_id = self._reserved_by.pop(endpoint_id)
                del self._reserved_at[endpoint_id]
                if lost:
                    self._load.remove(endpoint_id, merchant_id, lost)
                    log.warning("webhook_reservations_expired", endpoint_id=endpoint_id,
                                count=lost)

    def unreserve(self, rows: list) -> None:
        """Give back the room of deliveries whose fan-out did not commit."""
        for row in rows:
            endpoint_id = row["endpoint_id"]
            held = self._reserved.get(endpoint_id, 0)
            if not held:
                continue  # already written off by _expire_reservations
            self._load.remove(endpoint_id, domain.tenant_of(row))
            if held > 1:
                self._reserved[endpoint_id] = held - 1
            else:
                del self._reserved[endpoint_id]
                del self._reserved_by[endpoint_id]
                del self._reserved_at[endpoint_id]

    def send_leased(self, rows: list) -> None:
        """Send deliveries born leased (their fan-out has committed). If this process
        dies first, or is stopping, their lease runs out and a claim sends them."""
        self.unreserve(rows)
        if self._stopping:
            log.info("webhook_sends_left_to_their_lease", deliveries=len(rows))
            return
        for row in rows:
            self._start(row)

    def _start(self, row) -> None:
        task = asyncio.create_task(self._deliver(row), name="webhook-send")
        tenant_id = domain.tenant_of(row)
        self._sends[task] = (row["endpoint_id"], tenant_id)
        self._load.add(row["endpoint_id"], tenant_id)
        ordered = row["ordered"]
        task.add_done_callback(lambda t: self._done(t, ordered))

    async def start(self) -> None:
        # Merchants share hosts (one service receiving for many). A send queued inside
        # aiohttp for a host's connection spends its own timeout there, so a host may
        # have twice a merchant's share: one merchant's tarpit there cannot take them all.
        concurrency = self._settings.webhook_concurrency
        connector = aiohttp.TCPConnector(
            resolver=addresses.PublicOnlyResolver(strict=self._strict), limit=concurrency,
            limit_per_host=min(concurrency, 2 * self.per_merchant))
        self._http = aiohttp.ClientSession(
            connector=connector, trust_env=False,
            timeout=aiohttp.ClientTimeout(total=self._settings.webhook_timeout_seconds))
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        self._stopping = True
        await cancel_and_wait(self._task)
        for task in list(self._sends):
            await cancel_and_wait(task)
        if self._http is not None:
            await self._http.close()

    # The loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            # Cleared before the claim, not after: a wake-up while it runs (rows it may
            # not have seen) makes the wait below return at once.
            self._wake.clear()
            self._expire_reservations()
            free = self._settings.webhook_concurrency - self._in_flight()
            claimed, skipped = 0, False
            if free > 0:
                self._backlog = False
                try:
                    claimed, skipped = await self._claim(free)
                    backoff = 0.2
                except Exception as exc:
                    if being_cancelled():
                        raise asyncio.CancelledError from exc
                    log.warning("webhook_claim_failed", error=str(exc))
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 15.0)
                    continue
            if claimed and claimed == free:
                self._backlog = True
                continue  # maybe more due right now
            if claimed or skipped or free <= 0:
                # More may be due: behind an endpoint's or a merchant's limit, a claim's
                # own cap, or a free slot. Finished sends wake the loop until a claim
                # finds nothing.
                self._backlog = True
            try:
                async with asyncio.timeout(self._settings.webhook_poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                continue
            # Let more fan-outs and finished sends gather: one claim for all of them.
            await asyncio.sleep(self._settings.webhook_linger_seconds)

    def _done(self, task: asyncio.Task, ordered: bool) -> None:
        sent = self._sends.pop(task, None)
        if sent is not None:
            self._load.remove(*sent)
        if ordered or self._backlog:
            # A slot is free for what is due; an ordered endpoint may have its next one.
            self._wake.set()

    async def _claim(self, free: int) -> tuple[int, bool]:
        """Lease due deliveries and start them: how many were leased, and whether
        some endpoint or merchant is at its limit (so more may wait)."""
        limit = min(free, 100)
        endpoints, merchants = dict(self._load.endpoints), dict(self._load.merchants)
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                rows = await store.claim_due(
                    conn, limit=limit, lease_seconds=self.lease_seconds,
                    per_endpoint=PER_ENDPOINT, per_merchant=self.per_merchant,
                    endpoint_load=endpoints, merchant_load=merchants)
            self._undefer(rows, limit, endpoints, merchants)
            # A fan-out may have reserved room while the claim ran (for an endpoint not
            # deferred): what no longer fits is handed back, due at once, and its
            # endpoint deferred, rather than sent past a limit.
            over = []
            for row in rows:
                if self._has_room(row["endpoint_id"], domain.tenant_of(row)):
                    self._start(row)
                else:
                    over.append(row["seq"])
                    self._deferred[row["endpoint_id"]] = domain.tenant_of(row)
            if over:
                await store.release(conn, over)
        return len(rows), bool(over) or bool(self._deferred) or self._at_a_limit()

    def _undefer(self, rows: list, limit: int, endpoints: dict[str, int],
                 merchants: dict[int, int]) -> None:
        """Give the fast path back the deferred endpoints this claim could have taken
        more of (room left for the endpoint and its merchant, the claim not cut short
        by its limit) and did not: nothing of theirs is due any more."""
        if not self._deferred or len(rows) >= limit:
            return
        took_e = collections.Counter(r["endpoint_id"] for r in rows)
        took_m = collections.Counter(domain.tenant_of(r) for r in rows)
        for endpoint_id, merchant_id in list(self._deferred.items()):
            if took_e[endpoint_id] < PER_ENDPOINT - endpoints.get(endpoint_id, 0) and \
                    took_m[merchant_id] < self.per_merchant - merchants.get(merchant_id, 0):
                del self._deferred[endpoint_id]

    # One delivery ------------------------------------------------------------------

    async def _deliver(self, row: asyncpg.Record) -> None:
        try:
            result = await self._attempt(row)
        except asyncio.CancelledError:
            # Shutting down: hand the lease back so another replica sends it now.
            try:
                async with asyncio.timeout(2):
                    async with self._pool.acquire() as conn:
                        await store.release(conn, [row["seq"]])
            except Exception:
                pass  # the lease runs out on its own
            raise
        if isinstance(result, SecretUnavailable):
            await self._postpone(row, result)
            return
        try:
            await self._record(row, result)
        except Exception:
            # Not recorded: the lease runs out and the delivery is sent again
            # (at least once; receivers deduplicate by webhook-id).
            log.exception("webhook_record_failed", delivery_id=row["delivery_id"])

    async def _attempt(self, row: asyncpg.Record) -> Result | SecretUnavailable:
        """The attempt's result, or why it could not be signed yet (nothing was sent)."""
        norpay_secret = None
        if row["source"] != "api":  # the only endpoints that need more than the row
            try:
                # The event's merchant: the endpoint's own, or one of a company's.
                norpay_secret = await self._secrets.get(row["event_merchant_id"])
            except SecretUnavailable as exc:
                return exc
            except SecretNotFound:
                return Result(None, "the merchant's signing secret was not found", 0,
                              None, None)
        return await self._send(row, norpay_secret)

    async def _postpone(self, row: asyncpg.Record, why: SecretUnavailable) -> None:
        """Hand the lease back, due again soon, the attempt not counted. Outside the
        send's cancellation handler, so a shutdown cannot hand it back twice."""
        log.warning("webhook_send_postponed", delivery_id=row["delivery_id"],
                    endpoint_id=row["endpoint_id"], reason=str(why),
                    retry_in=SECRET_RETRY_SECONDS)
        try:
            async with self._pool.acquire() as conn:
                await store.release(conn, [row["seq"]], after=SECRET_RETRY_SECONDS)
        except Exception:
            log.exception("webhook_postpone_failed", delivery_id=row["delivery_id"])
            # The lease runs out and a claim tries it again.

    def _headers(self, row: asyncpg.Record, body: bytes,
                 norpay_secret: str | None) -> dict[str, str]:
        secret = self._box.open(row["secret"])
        previous = None
        if row["previous_secret"] and row["previous_secret_until"] and \
                row["previous_secret_until"] > datetime.now(UTC):
            previous = self._box.open(row["previous_secret"])
        headers = signing.headers(msg_id=str(row["event_id"]), timestamp=int(time.time()),
                                  body=body, secret=secret, previous=previous,
                                  norpay_secret=norpay_secret)
        headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT,
                        "X-NorPay-Event": row["event_type"],
                        "X-NorPay-Delivery": row["delivery_id"]})
        if row["source"] == "company":
            # Whose secret signed it: a company's URL hears every merchant of the company.
            headers["X-NorPay-Merchant"] = str(row["event_merchant_id"])
        return headers

    async def _send(self, row: asyncpg.Record, norpay_secret: str | None) -> Result:
        body = bytes(row["body"])
        url = row["url"]
        started = time.monotonic()

        def ms() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            addresses.check_literal_host(url, strict=self._strict,
                                         allowed_ports=self._settings.webhook_allowed_ports)
            assert self._http is not None
            headers = self._headers(row, body, norpay_secret)
            async with self._http.post(url, data=body, headers=headers,
                                       allow_redirects=False) as resp:
                raw = await resp.content.read(domain.RESPONSE_BODY_LIMIT * 4)
                # Kept for the delivery log; a NUL cannot be stored in a text column.
                text = raw.decode("utf-8", errors="replace").replace(
                    "\x00", "\ufffd")[:domain.RESPONSE_BODY_LIMIT]
                return Result(resp.status, None, ms(), text or None,
                              domain.parse_retry_after(resp.headers.get("Retry-After"),
                                                       datetime.now(UTC)))
        except addresses.AddressNotAllowed as exc:
            return Result(None, f"address not allowed: {exc}", ms(), None, None)
        except TimeoutError:
            return Result(None, f"timed out after {self._settings.webhook_timeout_seconds:g} s",
                          ms(), None, None)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, addresses.AddressNotAllowed):
                return Result(None, f"address not allowed: {exc.os_error}", ms(), None, None)
            return Result(None, f"connection failed: {exc.os_error}", ms(), None, None)
        except (aiohttp.ClientError, OSError) as exc:
            return Result(None, f"{type(exc).__name__}: {exc}"[:500], ms(), None, None)

    async def _record(self, row: asyncpg.Record, result: Result) -> None:
        now = datetime.now(UTC)
        outcome = domain.after_attempt(
            attempt=row["attempts"], status_code=result.status_code,
            retry_after=result.retry_after, schedule=self._settings.webhook_retry_schedule,
            now=now)
        error = result.error or (None if outcome.status == "succeeded"
                                 else f"HTTP {result.status_code}")
        ATTEMPTS.labels(outcome=outcome.status).inc()
        log.info("webhook_attempt", delivery_id=row["delivery_id"],
                 endpoint_id=row["endpoint_id"], event_id=str(row["event_id"]),
                 attempt=row["attempts"], status_code=result.status_code,
                 outcome=outcome.status, error=result.error, ms=result.response_ms)
        if outcome.status == "succeeded":
            await self.record_success((row["seq"], row["attempts"], result.status_code,
                                       result.response_ms, result.response_body,
                                       row["endpoint_id"]))
            return
        async with UnitOfWork(self._pool, producer="notifier", relay=self._relay) as uow:
            await store.record_attempt(
                uow.conn, seq=row["seq"], attempt=row["attempts"],
                status_code=result.status_code, error=error, response_ms=result.response_ms,
                response_body=result.response_body, status=outcome.status,
                next_attempt_at=outcome.next_attempt_at)
            endpoint = await store.endpoint_failed(uow.conn, row["endpoint_id"])
            reason = outcome.disable_reason or (
                "failing" if domain.should_disable(
                    endpoint["failing_since"], now,
                    self._settings.webhook_disable_after_seconds) else None)
            if reason and await store.disable_endpoint(uow.conn, row["endpoint_id"], reason):
                log.warning("webhook_endpoint_disabled", endpoint_id=row["endpoint_id"],
                            reason=reason)
                await self._tell_merchant(uow, endpoint, reason)

    async def record_success(self, sent: tuple) -> None:
        """(seq, attempt, status code, ms, response body, endpoint id) of a successful
        send, recorded with the others finishing at the same time."""
        await self._successes.submit(sent)

    async def _record_successes(self, sent: list[tuple]) -> list[None]:
        async with self._pool.acquire() as conn:
            await store.record_successes(conn, sent)
        return [None] * len(sent)

    async def _tell_merchant(self, uow: UnitOfWork, endpoint, reason: str) -> None:
        """E-mail the merchant through the notifier's own outbox (email.requested)."""
        from services.notifier.webhooks.use_cases import merchant_info

        if endpoint["merchant_id"] is None:
            # A company's endpoint: auth answers no address for a company to mail.
            log.warning("webhook_disabled_mail_skipped", endpoint_id=endpoint["endpoint_id"],
                        reason="a company's endpoint: no merchant to tell")
            return
        try:
            info = await merchant_info(self._client, endpoint["merchant_id"])
        except ServiceUnavailable as exc:
            log.warning("webhook_disabled_mail_skipped", endpoint_id=endpoint["endpoint_id"],
                        reason=str(exc))
            return
        email = info.merchant_email if info else None
        if not email:
            log.warning("webhook_disabled_mail_skipped", endpoint_id=endpoint["endpoint_id"],
                        reason="no merchant e-mail from auth")
            return
        uow.emit("email.requested", domain.disabled_email(
            to=email, endpoint_url=endpoint["url"], reason=reason,
            public_url=self._settings.public_url),
            company_id=str(endpoint["company_id"]), merchant_id=str(endpoint["merchant_id"]))
