"""The gateway's own HTTP/1.1 client for its hop to the services.

aiohttp's client spends 70 to 100 us of CPU on a small request and its answer (a
micro-benchmark of this hop); this one, 15 to 20 us. It does only what the hop needs:
keep-alive connections to a few known upstreams, a request whose body is already in
memory, and an answer parsed by llhttp (httptools) that is read whole or streamed
with back-pressure. The proxy uses it whenever the request body is in hand (none, the
bytes an Idempotency-Key middleware read, or a small body read at once); a large
streamed body still goes through aiohttp.

Connections are reused LIFO and dropped after `IDLE_SECONDS` without use, well before
the services' keep-alive timeout (aiohttp's 75 s), so a request is not written to a
connection the service is closing. A connection is reused only after its answer was
read to the end.

An upstream name may stand for several replicas (a compose service scaled up, a
headless Kubernetes Service): the pool resolves it every `RESOLVE_SECONDS` and sends
each request to the next address in turn, on a kept-alive connection to that address
if one is idle, so keep-alive does not pin the gateway to whichever replica answered
first. An address that refuses a connection is skipped for `DOWN_SECONDS`, the request
going to the next one (nothing was sent yet, so that is safe to retry).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import deque

import httptools

IDLE_SECONDS = 20.0
CONNECT_SECONDS = 5.0
HIGH_WATER = 1 << 20  # buffered answer bytes beyond which reading pauses
RESOLVE_SECONDS = 5.0  # a name's addresses are asked again after this (replicas come and go)
DOWN_SECONDS = 2.0  # an address that refused a connection is skipped this long


class UpstreamError(Exception):
    """`kind`: "unavailable" (no connection), "timeout" or "broken" (the connection
    failed or the answer did not parse)."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind


async def read_at_most(readany, cap: int) -> tuple[bytes, bool]:
    """Up to a little more than `cap` bytes of a body, read with `readany` (b"" at its
    end, as aiohttp's StreamReader.readany); True when that was the whole body."""
    parts: list[bytes] = []
    size = 0
    while size <= cap:
        chunk = await readany()
        if not chunk:
            return b"".join(parts), True
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), False


class Response:
    """An answer: status, reason and headers once `start` returns; the body as it
    arrives (`read_at_most`, `chunks`)."""

    def __init__(self, conn: _Connection, timeout: float):
        self._conn = conn
        self._timeout = timeout
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.content_length: int | None = None
        self._head = asyncio.get_running_loop().create_future()
        self._parts: deque[bytes] = deque()
        self._buffered = 0
        self._waiter: asyncio.Future | None = None
        self.complete = False
        self._error: UpstreamError | None = None
        self._released = False
        self.until_close = False

    # Fed by the connection -----------------------------------------------------------

    def _headers_done(self, status: int, reason: str, headers: list[tuple[str, str]], *,
                      until_close: bool) -> None:
        self.status, self.reason, self.headers = status, reason, headers
        for name, value in headers:
            if name.lower() == "content-length" and value.isascii() and value.isdigit():
                self.content_length = int(value)
        # Neither a length nor chunks: the body ends when the upstream closes.
        self.until_close = until_close and self.content_length is None
        if not self._head.done():
            self._head.set_result(None)

    def _body(self, data: bytes) -> None:
        self._parts.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER:
            self._conn.pause()
        self._wake()

    def _done(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, error: UpstreamError) -> None:
        self._error = error
        if not self._head.done():
            self._head.set_exception(error)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # Read by the proxy -------------------------------------------------------------

    async def start(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await asyncio.shield(self._head)
        except TimeoutError:
            self._conn.close()
            raise UpstreamError("timeout", "no answer in time") from None

    async def _more(self) -> bool:
        """Wait for body bytes; False at the end of the answer."""
        while not self._parts:
            if self._error is not None:
                raise self._error
            if self.complete:
                return False
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(self._timeout):
                    await self._waiter
            except TimeoutError:
                self._conn.close()
                raise UpstreamError("timeout", "the answer stopped arriving") from None
            finally:
                self._waiter = None
        return True

    def _take(self) -> bytes:
        data = b"".join(self._parts) if len(self._parts) > 1 else self._parts[0]
        self._parts.clear()
        self._buffered = 0
        self._conn.resume()
        return data

    async def readany(self) -> bytes:
        """The body bytes arrived so far, once there are some; b"" at the end of the
        answer (its connection given back then)."""
        if not await self._more():
            self.release()
            return b""
        return self._take()

    async def read_at_most(self, cap: int) -> tuple[bytes, bool]:
        return await read_at_most(self.readany, cap)

    async def chunks(self):
        while chunk := await self.readany():
            yield chunk

    def release(self) -> None:
        """Give the connection back (kept only if the answer was read to its end)."""
        self._released = True
        self._conn.finished(self)

    def close_unless_released(self) -> None:
        """Close the connection of an answer left unread (a failure, a cancellation):
        it cannot carry another request."""
        if not self._released:
            self._released = True
            self._conn.finished(self)


class _Connection(asyncio.Protocol):
    def __init__(self, pool: Pool, address: str):
        self._pool = pool
        self.address = address  # the replica this connection goes to
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used_at = time.monotonic()
        self._response: Response | None = None
        self._reason = b""
        self._headers: list[tuple[str, str]] = []
        self._keep_alive = True
        self._paused = False
        self._interim = False

    # asyncio.Protocol

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._broken(f"the answer does not parse: {exc}")

    def connection_lost(self, exc) -> None:
        self.closed = True
        response = self._response
        if response is not None and not response.complete:
            if exc is None and response._head.done() and response.until_close:
                response._done()  # a body delimited by the end of the connection
            else:
                response._fail(UpstreamError(
                    "broken", f"the connection closed mid-answer: {exc or 'EOF'}"))

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._reason = b""
        self._headers = []
        self._interim = False

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            # An interim answer (100 Continue, 103 Early Hints): the real one follows
            # on this connection, and it alone is the request's.
            self._interim = True
            return
        self._keep_alive = self._parser.should_keep_alive()
        if self._response is not None:
            chunked = any(n.lower() == "transfer-encoding" and "chunked" in v.lower()
                          for n, v in self._headers)
            self._response._headers_done(status, self._reason.decode("latin-1"),
                                         self._headers, until_close=not chunked)

    def on_body(self, body: bytes) -> None:
        if self._response is not None and not self._interim:
            self._response._body(body)

    def on_message_complete(self) -> None:
        if self._response is not None and not self._interim:
            self._response._done()

    # Used by the pool and the response

    def _broken(self, detail: str) -> None:
        if self._response is not None and not self._response.complete:
            self._response._fail(UpstreamError("broken", detail))
        self.close()

    def send(self, data: bytes, timeout: float) -> Response:
        self._response = Response(self, timeout)
        self.used_at = time.monotonic()
        assert self.transport is not None
        self.transport.write(data)
        return self._response

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def finished(self, response: Response) -> None:
        if response is not self._response:
            return
        self._response = None
        self._pool.in_use.discard(self)
        if response.complete and self._keep_alive and not self.closed:
            self.used_at = time.monotonic()
            self.resume()  # reading may have paused for this answer's back-pressure
            self._pool.give_back(self)
        else:
            self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Keep-alive connections to one upstream (host, port)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._host_header = f"Host: {host}:{port}\r\n".encode()
        self._idle: list[_Connection] = []  # every address's, most recently used last
        self.in_use: set[_Connection] = set()  # carrying a request and its answer
        self._literal = _is_address(host)
        self._addresses: list[str] = [host] if self._literal else []
        self._resolved_at = float("-inf")
        self._resolving: asyncio.Future[list[str]] | None = None
        self._turn = 0
        self._down: dict[str, float] = {}  # address -> skipped until (monotonic)

    async def addresses(self) -> list[str]:
        """The upstream's addresses: the host itself when it is one, else what the name
        resolved to at most `RESOLVE_SECONDS` ago (one lookup at a time; the last answer
        while the resolver fails)."""
        if self._literal or time.monotonic() - self._resolved_at < RESOLVE_SECONDS:
            return self._addresses
        if self._resolving is None:
            self._resolving = asyncio.ensure_future(self._resolve())
        resolving = self._resolving
        try:
            return await asyncio.shield(resolving)
        finally:
            if self._resolving is resolving and resolving.done():
                self._resolving = None

    async def _resolve(self) -> list[str]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            if self._addresses:
                return self._addresses
            raise UpstreamError("unavailable", f"{self.host} does not resolve: {exc}") from None
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if found:
            self._addresses, self._resolved_at = found, time.monotonic()
        return self._addresses

    async def _connection(self) -> _Connection:
        addresses = await self.addresses()
        now = time.monotonic()
        if len(addresses) > 1:
            # The next replica in turn, then the others; those that refused lately last.
            start = self._turn % len(addresses)
            self._turn += 1
            order = addresses[start:] + addresses[:start]
            order.sort(key=lambda a: self._down.get(a, 0.0) > now)
        else:
            order = addresses
        failure = UpstreamError("unavailable", f"{self.host} has no address")
        for address in order:
            conn = self._idle_to(address, now)
            if conn is not None:
                return conn
            try:
                return await self._connect(address)
            except UpstreamError as exc:
                self._down[address] = time.monotonic() + DOWN_SECONDS
                failure = exc
        raise failure

    def _idle_to(self, address: str, now: float) -> _Connection | None:
        """The most recently used idle connection to `address` still fit for use;
        dropping those past their time on the way."""
        for i in range(len(self._idle) - 1, -1, -1):
            conn = self._idle[i]
            if conn.closed or now - conn.used_at >= IDLE_SECONDS:
                del self._idle[i]
                conn.close()
            elif conn.address == address:
                del self._idle[i]
                return conn
        return None

    async def _connect(self, address: str) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, address), address, self.port)
        except TimeoutError:
            raise UpstreamError("unavailable", "connecting timed out") from None
        except OSError as exc:
            raise UpstreamError("unavailable", str(exc) or type(exc).__name__) from None
        return conn

    def give_back(self, conn: _Connection) -> None:
        self._idle.append(conn)

    async def request(self, method: str, target: str, headers: list[tuple[str, str]],
                      body: bytes, timeout: float) -> Response:
        """Send the request and wait for the answer's head. `target` is the path and
        query as the client encoded them; `headers` are sent as given, with Host and
        Content-Length set here."""
        head = [f"{method} {target} HTTP/1.1\r\n".encode("utf-8", "surrogateescape"),
                self._host_header]
        for name, value in headers:
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise UpstreamError("broken", f"a line break in header {name!r}")
            # The bytes the client sent (aiohttp keeps what is not UTF-8 as surrogates).
            head.append(f"{name}: {value}\r\n".encode("utf-8", "surrogateescape"))
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            head.append(f"Content-Length: {len(body)}\r\n".encode())
        head.append(b"\r\n")
        conn = await self._connection()
        self.in_use.add(conn)
        response = conn.send(b"".join(head) + body, timeout)
        try:
            await response.start()
        except BaseException:
            response.close_unless_released()  # cancelled or failed: never reused
            raise
        return response

    def close(self) -> None:
        for conn in [*self._idle, *self.in_use]:
            conn.close()
        self._idle.clear()
        self.in_use.clear()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Upstreams:
    """A pool per upstream base URL (`http://host:port`)."""

    def __init__(self) -> None:
        self._pools: dict[str, Pool] = {}

    def pool(self, base_url: str) -> Pool | None:
        """The pool for a plain `http://host:port` base URL; None for anything else
        (https, a path prefix), which the proxy leaves to aiohttp."""
        pool = self._pools.get(base_url)
        if pool is None:
            if not base_url.startswith("http://"):
                return None
            hostport = base_url[len("http://"):].rstrip("/")
            if "/" in hostport or "@" in hostport:
                return None
            host, _, port = hostport.rpartition(":")
            if not host or not port.isdigit():
                return None
            pool = self._pools[base_url] = Pool(host.strip("[]"), int(port))
        return pool

    def in_use(self) -> int:
        """Connections carrying a request now."""
        return sum(len(pool.in_use) for pool in self._pools.values())

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
