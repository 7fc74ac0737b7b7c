"""Sends due webhook deliveries: durable, at least once, safe with several replicas.

Each round leases due deliveries from the database (`FOR UPDATE SKIP LOCKED`, then
the next attempt time is pushed past the send: a replica that dies mid-send leaves
them to come due again), sends each in its own task, and records the attempt and
what happens next in one transaction. A slow endpoint ties up only its own tasks:
each endpoint has at most `PER_ENDPOINT` sends in flight, and the others go on.
Endpoints that ask for ordering get one delivery at a time, oldest first.

The common case skips the claim: the webhooks consumer asks the dispatcher for room
(`reserve`) while it fans an event out, writes the deliveries it got room for already
leased (first attempt counted, due again only when the lease runs out), and hands them
over once its transaction commits (`send_leased`). The lease is the same guarantee as
a claim's: if this process dies before or during the send, the delivery comes due and
any replica's claim sends it. Ordered endpoints always go through the claim.

A merchant's webServiceUrl endpoint (source 'merchant') signs X-NorPay-Signature with
the merchant's secret, which auth holds (merchant_secrets.py). If auth cannot give it,
the delivery's lease is handed back to come due again shortly, its attempt not
counted: it is neither sent unsigned nor lost, and our outage does not count against
the merchant's endpoint. Endpoints registered through the API never ask for it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import asyncpg
from prometheus_client import Counter

from services.notifier import webhooks_domain as domain
from services.notifier import webhooks_store as store
from services.notifier.merchant_secrets import MerchantSecrets, SecretNotFound, SecretUnavailable
from shared.aio import Coalescer, being_cancelled, cancel_and_wait
from shared.crypto import SecretBox
from shared.db import database_gone
from shared.events import OutboxRelay, UnitOfWork
from shared.http.client import InternalClient, ServiceUnavailable
from shared.logging import get_logger
from shared.outbound import addresses, signing
from shared.settings import Settings

log = get_logger(__name__)
PER_ENDPOINT = 4
LEASE_MARGIN = 30.0  # seconds a lease outlives the request timeout
RESERVATION_SECONDS = 60.0  # room reserved for a fan-out is lost after this
USER_AGENT = "norgate-webhooks/1"
SECRET_RETRY_SECONDS = 5.0  # a send waiting for the merchant's secret is tried again after

ATTEMPTS = Counter("norgate_webhook_attempts_total", "Webhook delivery attempts by outcome",
                   ["outcome"])


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
        self._sends: dict[asyncio.Task, str] = {}  # task -> endpoint id
        # Room set aside for deliveries being fanned out, to be sent once committed
        # (reserve, send_leased): endpoint id -> how many.
        self._reserved: dict[str, int] = {}
        self._reserved_at: dict[str, float] = {}  # endpoint id -> its latest reservation
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
        return len(self._sends) + sum(self._reserved.values())

    def reserve(self, endpoint_id: str) -> bool:
        """Set aside room for one send to `endpoint_id` (within the concurrency and
        per-endpoint limits): its delivery is then born leased to this dispatcher, and
        sent by `send_leased` after the commit, or given back by `unreserve`."""
        if self._task is None or self._task.done() or self._stopping \
                or self._in_flight() >= self._settings.webhook_concurrency:
            return False
        busy = self._reserved.get(endpoint_id, 0) + sum(
            1 for e in self._sends.values() if e == endpoint_id)
        if busy >= PER_ENDPOINT:
            return False
        self._reserved[endpoint_id] = self._reserved.get(endpoint_id, 0) + 1
        self._reserved_at[endpoint_id] = time.monotonic()
        return True

    def _expire_reservations(self) -> None:
        """A safety net: room reserved longer ago than any fan-out transaction lasts was
        lost (a path that neither sent nor gave it back); without this, an endpoint
        whose room leaked would be skipped by every claim."""
        now = time.monotonic()
        for endpoint_id, at in list(self._reserved_at.items()):
            if now - at > RESERVATION_SECONDS:
                lost = self._reserved.pop(endpoint_id, 0)
                del self._reserved_at[endpoint_id]
                if lost:
                    log.warning("webhook_reservations_expired", endpoint_id=endpoint_id,
                                count=lost)

    def unreserve(self, rows: list) -> None:
        """Give back the room of deliveries whose fan-out did not commit."""
        for row in rows:
            left = self._reserved.get(row["endpoint_id"], 0) - 1
            if left > 0:
                self._reserved[row["endpoint_id"]] = left
            else:
                self._reserved.pop(row["endpoint_id"], None)
                self._reserved_at.pop(row["endpoint_id"], None)

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
        self._sends[task] = row["endpoint_id"]
        task.add_done_callback(lambda t, ordered=row["ordered"]: self._done(t, ordered))

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=addresses.PublicOnlyResolver(strict=self._strict),
            limit=self._settings.webhook_concurrency, limit_per_host=PER_ENDPOINT * 4)
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
            claimed, skipped = [], False
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
            for row in claimed:
                self._start(row)
            if claimed and len(claimed) == free:
                self._backlog = True
                continue  # maybe more due right now
            if claimed or skipped or free <= 0:
                # More may be due: behind the per-endpoint limit, a claim's own cap, or
                # a free slot. Finished sends wake the loop until a claim finds nothing.
                self._backlog = True
            try:
                async with asyncio.timeout(self._settings.webhook_poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                continue
            # Let more fan-outs and finished sends gather: one claim for all of them.
            await asyncio.sleep(self._settings.webhook_linger_seconds)

    def _done(self, task: asyncio.Task, ordered: bool) -> None:
        self._sends.pop(task, None)
        if ordered or self._backlog:
            # A slot is free for what is due; an ordered endpoint may have its next one.
            self._wake.set()

    async def _claim(self, free: int) -> tuple[list[asyncpg.Record], bool]:
        """Leased due deliveries, and whether endpoints at their limit were skipped."""
        counts: dict[str, int] = dict(self._reserved)
        for endpoint_id in self._sends.values():
            counts[endpoint_id] = counts.get(endpoint_id, 0) + 1
        busy = [e for e, n in counts.items() if n >= PER_ENDPOINT]
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await store.claim_due(
                conn, limit=min(free, 100), busy=busy, per_endpoint=PER_ENDPOINT,
                lease_seconds=self.lease_seconds)
        return rows, bool(busy)

    # One delivery ------------------------------------------------------------------

    async def _deliver(self, row: asyncpg.Record) -> None:
        try:
            result = await self._attempt(row)
        except asyncio.CancelledError:
            # Shutting down: hand the lease back so another replica sends it now.
            try:
                async with asyncio.timeout(2):
                    async with self._pool.acquire() as conn:
                        await store.release(conn, row["seq"])
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
        if row["source"] == "merchant":  # the only endpoints that need more than the row
            try:
                norpay_secret = await self._secrets.get(row["merchant_id"])
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
                await store.release(conn, row["seq"], after=SECRET_RETRY_SECONDS)
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
        return headers

    async def _send(self, row: asyncpg.Record, norpay_secret: str | None) -> Result:
        body = bytes(row["body"])
        url = row["url"]
        started = time.monotonic()

        def ms() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            addresses.check_literal_host(url, strict=self._strict)
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
            return Result(None, f"connection failed: {exc.os_error or exc}", ms(), None, None)
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
        from services.notifier.webhooks import merchant_info

        try:
            info = await merchant_info(self._client, endpoint["merchant_id"])
        except ServiceUnavailable as exc:
            log.warning("webhook_disabled_mail_skipped", endpoint_id=endpoint["endpoint_id"],
                        reason=str(exc))
            return
        email = (info or {}).get("merchantEmail")
        if not email:
            log.warning("webhook_disabled_mail_skipped", endpoint_id=endpoint["endpoint_id"],
                        reason="no merchant e-mail from auth")
            return
        uow.emit("email.requested", domain.disabled_email(
            to=email, endpoint_url=endpoint["url"], reason=reason,
            public_url=self._settings.public_url),
            company_id=str(endpoint["company_id"]), merchant_id=str(endpoint["merchant_id"]))
