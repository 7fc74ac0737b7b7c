"""Idempotency-Key at the gateway: a retried create gets the first answer back.

What takes part
- POST and PATCH on the public API families (`/api/v1`, `/api/v2`, `/prices`) that
  carry `Idempotency-Key`, from a signed-in user or an API key. Any other method or
  path ignores the header. So do sign-in, refresh and sign-out: their answers are
  credentials, and replaying a refresh would hand out a session again without the
  used token's reuse check. So does every anonymous request (sign-up, confirmation,
  transaction verify): it would be a row anyone may write without limit (a thousand
  keys, a thousand rows for a day), in one scope every client shares (another's key,
  once guessed, is a 409 for its owner). Scoping them by client address instead would
  break clients behind one NAT and still need a cap; those routes are safe to retry
  without it (a repeated sign-up is 409 email_taken).
- Not the upload routes (`routing.UPLOADS`, a settlement file of up to 32 MiB): the key
  would make the gateway hold the whole file to fingerprint it, and the same file is
  already the same import there.
- The key is 1 to 255 printable ASCII characters, sent once; anything else is
  400 `invalid_idempotency_key`.

Scope: "<principal kind>:<subject> <METHOD> <raw path>", so two callers (or two
routes) never see each other's keys.

Semantics (as Stripe's), with rows in `gateway.idempotency_keys` (0002):
- The request fingerprint is an HMAC-SHA256 (key derived from NORGATE_SECRET_KEY)
  of method, raw path, raw query and body bytes. Keyed, so a stored fingerprint of
  a body holding a password cannot be attacked offline with a dictionary.
- First request: one `INSERT ... ON CONFLICT DO UPDATE ... WHERE expired` claims
  the row as `in_progress` (an expired row counts as absent and is taken over in
  the same statement). The claims and the completions (below) of concurrent
  requests go together in one such statement (`shared.aio.Coalescer`): under load
  one round trip and one commit serve a batch of requests. The request is proxied with
  its body already read (the proxy forwards the bytes) and its answer buffered up to
  1 MiB.
- The upstream's answer, when status < 500 and not 429 and at most 1 MiB, is
  stored (`done`, kept NORGATE_IDEMPOTENCY_RETENTION_SECONDS, 24 h): status,
  Content-Type, Content-Encoding, Location, X-Error-Code and the body, sealed with
  AES-256-GCM (creates return secrets such as a new API key, which must not sit in
  the database in clear). Anything else
  (5xx, 429, a larger body, a network failure, the gateway's own errors such as
  502/504/413, a cancelled request) deletes the row, so the client may retry.
- Same key, same fingerprint, done: the stored answer is replayed exactly
  (status, headers above, body) plus `Idempotent-Replayed: true`.
- Same key, other fingerprint: 409 `idempotency_key_reused`.
- Same key while the first is in progress: 409 `idempotency_key_in_progress` with
  `Retry-After: 1`. An `in_progress` row only holds for a lease
  (max(60 s, 4 × NORGATE_UPSTREAM_TIMEOUT_SECONDS)), so a replica that died
  mid-request does not block the key for a day.
- Rows live in PostgreSQL, so every gateway replica sees the same keys. Expired
  rows are deleted by the gateway's housekeeping (housekeeping.py), in batches.

Where it runs: right after authentication and rate limiting (the gateway's
identity middleware calls it as its handler; see app.py), so the caller is known
and a refused 401 or 429 never claims a key.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import orjson
from aiohttp import web
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from multidict import CIMultiDict

from services.gateway.authn import RATE_HEADERS_KEY
from services.gateway.housekeeping import IDEMPOTENCY_KEYS
from services.gateway.proxy import BUFFER_RESPONSE_KEY, REQUEST_BODY_KEY
from services.gateway.routing import is_upload
from shared.aio import Coalescer
from shared.housekeeping import run_prune
from shared.http import envelopes
from shared.http.app import POOL
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, principal_of
from shared.logging import get_logger
from shared.principal import Principal
from shared.secrets import derive
from shared.settings import Settings

log = get_logger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PATCH"})
# Session endpoints: their answers are credentials (see the module docstring).
IGNORED_PATHS = frozenset({
    "/api/v1/auth/sign-in", "/api/v1/auth/refresh", "/api/v1/auth/sign-out"})
MAX_KEY_LENGTH = 255
MAX_STORED_BODY = 1024 * 1024
REPLAY_HEADERS = ("Content-Type", "Content-Encoding", "Location", "X-Error-Code")

# Claims and completions of concurrent requests go to PostgreSQL together (see
# shared.aio.Coalescer), in one statement: one round trip and one commit for every
# request in the batch, whichever of the two it asks. The statement locks its rows in
# (scope, key) order, so two batches (two replicas') never deadlock; the housekeeping's
# deletes skip locked rows, so they never wait on one either.
#
# An INSERT whose conflicts update, not an UPDATE ... FROM: each row is found through
# the primary key by the conflict check itself, so no join is planned. (An UPDATE's
# join to the batch was planned once, while the table was small, and the cached plan
# then scanned the whole table on every completion: 130 us a row at 6,000 rows, and
# growing.)
# - A claim (status NULL) inserts its row `in_progress` for a lease, or takes over a row
#   whose time ran out; a live row stays as it is, and the claim gets no owner back.
# - A completion (status set) makes its own claim's row `done` with the answer, for
#   NORGATE_IDEMPOTENCY_RETENTION_SECONDS; a row that is no longer there (its lease ran
#   out and the housekeeping deleted it) is written afresh with the answer, and one
#   another request took over is left alone.
# RETURNING gives the owner of every row written: claims and completions are told apart
# by their owners, which are new for every claim (one key is never in a batch twice).
_WRITE = """
INSERT INTO idempotency_keys AS k (scope, key, owner, fingerprint, state, status, headers,
                                   body, expires_at)
SELECT w.scope, w.key, w.owner, w.fingerprint,
       CASE WHEN w.status IS NULL THEN 'in_progress' ELSE 'done' END,
       w.status, w.headers::jsonb, w.body,
       now() + make_interval(secs => CASE WHEN w.status IS NULL THEN $8::float8
                                          ELSE $9::float8 END)
  FROM unnest($1::text[], $2::text[], $3::uuid[], $4::bytea[], $5::smallint[], $6::text[],
              $7::bytea[]) AS w(scope, key, owner, fingerprint, status, headers, body)
 ORDER BY w.scope, w.key
ON CONFLICT (scope, key) DO UPDATE
   SET owner = EXCLUDED.owner, fingerprint = EXCLUDED.fingerprint, state = EXCLUDED.state,
       status = EXCLUDED.status, headers = EXCLUDED.headers, body = EXCLUDED.body,
       created_at = CASE WHEN EXCLUDED.state = 'in_progress' THEN now()
                         ELSE k.created_at END,
       expires_at = EXCLUDED.expires_at
 WHERE CASE WHEN EXCLUDED.state = 'in_progress' THEN k.expires_at <= now()
            ELSE k.owner = EXCLUDED.owner AND k.state = 'in_progress' END
RETURNING k.owner
"""

_LOOKUP = """
SELECT fingerprint, state, status, headers, body FROM idempotency_keys
WHERE scope = $1 AND key = $2 AND expires_at > now()
"""

_RELEASE = """
DELETE FROM idempotency_keys
WHERE scope = $1 AND key = $2 AND owner = $3 AND state = 'in_progress'
"""


@dataclass(frozen=True)
class Record:
    """A live row someone else holds: in progress, or done with its answer."""

    fingerprint: bytes
    state: str
    status: int | None
    headers: list[list[str]] | None
    body: bytes | None  # sealed


def valid_key(value: str) -> bool:
    # Printable ASCII: for ASCII text, isprintable() is exactly " " to "~".
    return 1 <= len(value) <= MAX_KEY_LENGTH and value.isascii() and value.isprintable()


def key_of(request: web.Request) -> str | None:
    """The request's Idempotency-Key when it takes part; None when it does not;
    400 when it does but the header is malformed."""
    if request.method not in METHODS or request.path in IGNORED_PATHS \
            or envelopes.family_of(request.path) is envelopes.Family.PLAIN:
        return None
    who = principal_of(request)
    if not (who.is_authenticated and who.subject):  # see "What takes part"
        return None
    values = request.headers.getall(HEADER, [])
    if not values:
        return None
    if len(values) != 1 or not valid_key(values[0]):
        raise ApiError(Errors.INVALID_IDEMPOTENCY_KEY, field=HEADER)
    return values[0]


def scope_of(who: Principal, method: str, raw_path: str) -> str:
    """Only for a caller key_of lets take part: authenticated, with a subject."""
    return f"{who.kind}:{who.subject} {method} {raw_path}"


class IdempotencyStore:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._fingerprint_key = bytes.fromhex(derive(settings, "idempotency-fingerprint"))
        self._aead = AESGCM(bytes.fromhex(derive(settings, "secret-box:idempotency-response")))
        self.lease_seconds = max(60.0, 4 * float(settings.upstream_timeout_seconds))
        self.retention_seconds = float(settings.idempotency_retention_seconds)
        self._batch_size = settings.housekeeping_batch_size
        # One statement cannot write a row twice: the same key waits for the next.
        self._writes = Coalescer(self._write_many, key=lambda w: (w[0], w[1]))

    # Fingerprints and sealing ---------------------------------------------------

    def fingerprint(self, method: str, raw_path: str, raw_query: str, body: bytes) -> bytes:
        message = b"".join((method.encode(), b"\x00", raw_path.encode(), b"\x00",
                            raw_query.encode(), b"\x00", body))
        return hmac.digest(self._fingerprint_key, message, "sha256")

    @staticmethod
    def _aad(scope: str, key: str) -> bytes:
        return f"{scope}\x00{key}".encode()

    def seal(self, scope: str, key: str, body: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, body, self._aad(scope, key))

    def open(self, scope: str, key: str, sealed: bytes) -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], self._aad(scope, key))

    # Rows ---------------------------------------------------------------------

    async def claim(self, scope: str, key: str, fingerprint: bytes) -> uuid.UUID | Record:
        """Our claim (a new owner id) when the key was free or expired; otherwise the
        live row that holds it."""
        for _ in range(5):
            owner = uuid.uuid4()
            if await self._writes.submit((scope, key, owner, fingerprint, None, None, None)):
                return owner
            row = await self._pool.fetchrow(_LOOKUP, scope, key)
            if row is not None:
                return Record(bytes(row["fingerprint"]), row["state"], row["status"],
                              row["headers"], row["body"])
            # Released or expired between the two statements: claim again.
        # Only a key churned by other requests without pause gets here.
        return Record(fingerprint, "in_progress", None, None, None)

    async def complete(self, scope: str, key: str, owner: uuid.UUID, fingerprint: bytes,
                       status: int, headers: list[list[str]], body: bytes) -> bool:
        """Keep the answer of our claim; False when another request holds the key now."""
        return await self._writes.submit(
            (scope, key, owner, fingerprint, status, orjson.dumps(headers).decode(),
             self.seal(scope, key, body)))

    async def _write_many(self, writes: list[tuple]) -> list[bool]:
        """Claims and completions (see _WRITE): for each, whether it wrote its row."""
        rows = await self._pool.fetch(_WRITE, *map(list, zip(*writes, strict=True)),
                                      self.lease_seconds, self.retention_seconds)
        written = {row["owner"] for row in rows}
        return [owner in written for _, _, owner, *_ in writes]

    async def release(self, scope: str, key: str, owner: uuid.UUID) -> None:
        await self._pool.execute(_RELEASE, scope, key, owner)

    async def cleanup(self) -> int:
        """Delete expired rows (done or abandoned in progress) now, in batches, as the
        housekeeping does on its schedule; returns how many (0 while another replica's
        housekeeping holds the job)."""
        run = await run_prune(self._pool, IDEMPOTENCY_KEYS, batch_size=self._batch_size)
        return run.rows


IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)


def _storable(response: web.StreamResponse) -> bool:
    # Only an answer the proxy buffered (an unprepared web.Response) can be kept.
    return (isinstance(response, web.Response) and not response.prepared
            and response.status < 500 and response.status != 429
            and isinstance(response.body, bytes) and len(response.body) <= MAX_STORED_BODY)


def _replay(request: web.Request, store: IdempotencyStore, scope: str, key: str,
            record: Record) -> web.Response:
    headers = CIMultiDict((name, value) for name, value in record.headers or ())
    headers[REPLAYED_HEADER] = "true"
    headers.update(request.get(RATE_HEADERS_KEY, {}))
    # A done row always has its status and body (the table's CHECK says so).
    return web.Response(status=record.status or 200, headers=headers,
                        body=store.open(scope, key, record.body or b""))


@web.middleware
async def idempotency(request: web.Request, handler):
    key = key_of(request)
    if key is None or is_upload(request.method, request.path):
        return await handler(request)
    store: IdempotencyStore = request.app[IDEMPOTENCY]
    limit = request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(Errors.BODY_TOO_LARGE, limit=limit)
    body = await request.read()  # client_max_size (the body limit) applies: 413
    request[REQUEST_BODY_KEY] = body  # the proxy forwards these bytes
    url = request.rel_url
    scope = scope_of(principal_of(request), request.method, url.raw_path)
    fingerprint = store.fingerprint(request.method, url.raw_path, url.raw_query_string, body)

    claim = await store.claim(scope, key, fingerprint)
    if isinstance(claim, Record):
        if not hmac.compare_digest(claim.fingerprint, fingerprint):
            raise ApiError(Errors.IDEMPOTENCY_KEY_REUSED, field=HEADER)
        if claim.state != "done":
            raise ApiError(Errors.IDEMPOTENCY_KEY_IN_PROGRESS, field=HEADER,
                           headers={"Retry-After": "1"})
        log.debug("idempotent_replay", scope=scope)
        return _replay(request, store, scope, key, claim)

    owner = claim
    request[BUFFER_RESPONSE_KEY] = MAX_STORED_BODY
    try:
        response = await handler(request)
    except BaseException:
        await _release(store, scope, key, owner)
        raise
    if _storable(response):
        headers = [[name, value] for name in REPLAY_HEADERS
                   for value in response.headers.getall(name, [])]
        try:
            if not await store.complete(scope, key, owner, fingerprint, response.status,
                                        headers, response.body):
                log.warning("idempotency_claim_lost", scope=scope)
        except Exception:
            # The answer still goes to the client; the row stays in progress until its
            # lease ends, and then the key is free again.
            log.exception("idempotency_store_failed", scope=scope)
    else:
        await _release(store, scope, key, owner)
    return response


async def _release(store: IdempotencyStore, scope: str, key: str, owner: uuid.UUID) -> None:
    try:
        # Shielded: a cancelled request still frees its key.
        await asyncio.shield(store.release(scope, key, owner))
    except Exception:
        log.exception("idempotency_release_failed", scope=scope)


async def idempotency_ctx(app: web.Application) -> AsyncIterator[None]:
    store = IdempotencyStore(app[POOL], app[SETTINGS])
    app[IDEMPOTENCY] = store
    yield  # expired rows: the housekeeping's (housekeeping.py)
