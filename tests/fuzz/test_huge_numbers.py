"""Numbers too big to write out, sent through the gateway of a running stack (issue 19).

A JSON number is parsed to an exact Decimal (or int). `Decimal('1e999999999')` takes a
few bytes, but writing it out (`f"{x:f}"`, a positive exponent expanded into zeros,
`int()`, `quantize`) allocates a billion digits: 130 bytes sent to charges/add used to
take the fees service down, and with it every payment. Every such number must be
refused at the edge (a 4xx naming the field, in the family's envelope) and no service
may grow while refusing it.

Safety net: while these tests run, every service's address space is capped at its size
plus 1 GiB (RLIMIT_AS), so a regression shows as a MemoryError (a 500 the tests catch)
instead of exhausting the machine; the caps are lifted afterwards.
"""

from __future__ import annotations

import json
import re
import resource
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.settings import Settings
from tests.support.auth import PASSWORD, make_super

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SERVICES = ("gateway", "auth", "checkout", "billing", "fees", "notifier")
HEADROOM = 1 << 30  # the cap above each service's size when capped
MB = 1 << 20

# JSON number literals, written as they would be sent (json.dumps cannot write them).
HUGE = {
    "1e999999999": "1e999999999",
    "-1e999999999": "-1e999999999",
    "1e-999999999": "1e-999999999",
    "0e999999999": "0e999999999",
    "100000 digits": "1" + "0" * 99_999,
    "100000 decimals": "0." + "0" * 99_998 + "1",
}
# The same in query strings: a URL line holds at most 8190 bytes, so the long one is
# 5000 digits (past Python's 4300-digit limit for int()).
HUGE_QUERY = ["1e999999999", "-1e999999999", "1e-999999999", "9" * 5000]
# The numbers handlers read from query strings, documented or not (lists, reports, links).
QUERY_NUMBERS = ("page", "per_page", "merchantId", "companyId", "from", "to", "expires",
                 "mid")
_MARK = "__huge_number__"


# --- the services' processes and their memory ----------------------------------------------


def _pids(stack) -> dict[str, list[int]]:
    """Each service's processes: `python -m services.<name>` holding this stack's port."""
    marker = f"NORGATE_GATEWAY_PORT={stack.port('gateway')}".encode()
    found: dict[str, list[int]] = {name: [] for name in SERVICES}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
        except OSError:
            continue
        for name in SERVICES:
            if f"services.{name}".encode() in argv:
                found[name].append(int(entry.name))
    assert all(found.values()), found
    return found


def _status_kb(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


def _reset_peak(pid: int) -> None:
    """Start the peak resident size (VmHWM) again from the current one."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass  # the peak since start still bounds the growth from above


class Memory:
    """The services' resident sizes, and their peaks since `start()`."""

    def __init__(self, pids: dict[str, list[int]]):
        self.pids = pids
        self.before: dict[str, int] = {}

    def _rss(self) -> dict[str, int]:
        return {n: sum(_status_kb(p, "VmRSS") for p in ps) * 1024
                for n, ps in self.pids.items()}

    def start(self) -> None:
        for pids in self.pids.values():
            for pid in pids:
                _reset_peak(pid)
        self.before = self._rss()

    def growth(self) -> dict[str, dict[str, int]]:
        """Per service: its size before, its size now and its peak meanwhile (bytes)."""
        now = self._rss()
        return {n: {"before": self.before[n], "after": now[n],
                    "peak": sum(_status_kb(p, "VmHWM") for p in self.pids[n]) * 1024}
                for n in self.pids}

    def assert_flat(self, limit: int) -> dict[str, dict[str, int]]:
        figures = self.growth()
        grown = {n: f for n, f in figures.items()
                 if f["after"] - f["before"] > limit or f["peak"] - f["before"] > limit}
        assert not grown, {n: {k: v // MB for k, v in f.items()} for n, f in grown.items()}
        return figures


@pytest.fixture(scope="module")
def services(stack, tenant) -> dict[str, list[int]]:
    """The services' pids, each capped at its address space + 1 GiB for this module."""
    pids = _pids(stack)
    saved = []
    for group in pids.values():
        for pid in group:
            old = resource.prlimit(pid, resource.RLIMIT_AS)
            size = _status_kb(pid, "VmSize") * 1024
            resource.prlimit(pid, resource.RLIMIT_AS, (size + HEADROOM, old[1]))
            saved.append((pid, old))
    try:
        yield pids
    finally:
        for pid, old in saved:
            try:
                resource.prlimit(pid, resource.RLIMIT_AS, old)
            except (ProcessLookupError, PermissionError):
                pass


# --- calls --------------------------------------------------------------------------------


async def _send(http: aiohttp.ClientSession, method: str, url: str, *,
                headers: dict[str, str], raw: str | None = None,
                params: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    data = raw.encode() if raw is not None else None
    hdrs = {**headers, **({"Content-Type": "application/json"} if raw is not None else {})}
    async with http.request(method, url, data=data, params=params, headers=hdrs) as resp:
        text = await resp.text()
        try:
            body = json.loads(text)
        except ValueError:
            body = text
        return resp.status, body, resp.headers


def _with(body: dict, literal: str) -> str:
    """`body` as JSON text with the marker string replaced by a raw number literal."""
    return json.dumps(body).replace(json.dumps(_MARK), literal)


def _field_of(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("field")
    return None


def _message(body: Any) -> str:
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):
            return str(body["error"].get("message"))
        return str(body.get("message", ""))
    return str(body)


async def _sign_in_super(stack) -> str:
    """A SUPER user in the stack's database, signed in through the gateway (SUPER-only
    bodies, such as the system charges, are read only for SUPER)."""
    settings = Settings(database_url=stack.env["NORGATE_DATABASE_URL"],
                        secret_key=stack.env["NORGATE_SECRET_KEY"])
    account = await make_super(settings)
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.gateway + "/api/v1/auth/sign-in", json={
                "email": account.email, "password": PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
            return (await resp.json())["token"]


@pytest.fixture(scope="module")
async def widget_key(tenant) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(tenant.gateway + "/api/v1/api-keys", headers=tenant.admin_headers,
                             json={"merchantId": tenant.merchant_id, "type": "publishable",
                                   "name": "huge numbers",
                                   "allowedOrigins": [WIDGET_ORIGIN]}) as resp:
            body = await resp.json()
            assert resp.status == 201, body
            return body["data"]["key"]


WIDGET_ORIGIN = "https://shop.example.com"


async def _create_payment(http, tenant) -> tuple[int, Any]:
    status, body, _ = await _send(http, "POST", tenant.gateway + "/api/v2/payments/create",
                                  headers=tenant.key_headers,
                                  raw=json.dumps({"amount": "1050", "currency": "USD"}))
    return status, body


# --- the attack of the issue ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(HUGE))
async def test_a_huge_charge_value_is_400_naming_value_and_fees_stays_small(
        tenant, services, name):
    """The issue's 130 bytes: `value` out of any range and `chargeType` missing, so the
    fee rule's validators reach the number before any type decides its meaning."""
    memory = Memory({"fees": services["fees"]})
    memory.start()
    raw = ('{"value": ' + HUGE[name] + ', "chargeSource": "CARD", "chargeCategory": '
           '"TRANSACTION", "status": "ACTIVE", "currency": "USD", "merchantUserName": "x'
           + secrets.token_hex(2) + '@example.com"}')
    async with aiohttp.ClientSession() as http:
        status, body, headers = await _send(
            http, "POST", tenant.gateway + "/api/v1/merchant/charges/add",
            headers=tenant.admin_headers, raw=raw)
        assert status == 400, body
        assert headers["X-Error-Code"] == "validation_error"
        assert body["statusCode"] == 400 and body["data"] is None  # NORAH's envelope
        assert body["error"]["field"] == "value", body
        assert body["message"].startswith("value: "), body
        # Fees is still there for what depends on it: a payment's quote.
        status, created = await _create_payment(http, tenant)
        assert status == 201, created
    figures = memory.assert_flat(20 * MB)
    print(name, {k: v // MB for k, v in figures["fees"].items()}, "MB")


@pytest.mark.parametrize("family", ["norpay", "prices", "widget", "norah"])
async def test_a_huge_amount_is_refused_in_each_familys_envelope(tenant, services,
                                                                 widget_key, family):
    gw = tenant.gateway
    calls = {
        "norpay": ("/api/v2/payments/create", tenant.key_headers, "amount"),
        "prices": ("/prices/app_unknown", tenant.key_headers, "amount"),
        "widget": ("/v1/widget/payments", {"X-API-Key": widget_key,
                                            "Origin": WIDGET_ORIGIN}, "amount"),
        "norah": ("/api/v1/test-charge-calculation", tenant.admin_headers, "amount"),
    }
    path, headers, field = calls[family]
    memory = Memory(services)
    memory.start()
    async with aiohttp.ClientSession() as http:
        for literal in HUGE.values():
            raw = _with({"amount": _MARK, "currency": "USD",
                         "metadata": {"order": {"total": 1}}}, literal)
            status, body, got = await _send(http, "POST", gw + path, headers=headers, raw=raw)
            assert status == 400, (literal[:20], body)
            assert got["X-Error-Code"] == "validation_error"
            if family == "norpay":
                assert body["status"] == "0" and body["result"] is None
                assert body["message"].startswith(f"Error! {field}: "), body
            else:
                assert _field_of(body) == field, body
            # The same number deep in free-form metadata is refused by its path too.
            if family in ("norpay", "widget"):
                raw = _with({"amount": "100", "currency": "USD",
                             "metadata": {"order": {"lines": [1, _MARK]}}}, literal)
                status, body, _ = await _send(http, "POST", gw + path, headers=headers,
                                              raw=raw)
                assert status == 400, (literal[:20], body)
                assert "metadata.order.lines[1]" in _message(body), body
    memory.assert_flat(20 * MB)


# --- every numeric field of the OpenAPI document ----------------------------------------------


def _resolve(schema: dict, doc: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        schema = doc["components"]["schemas"][name]
    return schema if isinstance(schema, dict) else {}


def _numeric(schema: dict, doc: dict) -> bool:
    schema = _resolve(schema, doc)
    if schema.get("type") in ("number", "integer"):
        return True
    return any(_numeric(s, doc) for k in ("anyOf", "oneOf", "allOf")
               for s in schema.get(k, []))


def _numeric_fields(schema: dict, doc: dict, path: tuple = (), depth: int = 0):
    """(path, is_number) for every property whose schema admits a number, nested objects
    and arrays included; `path` holds keys and 0 for an array's first item."""
    schema = _resolve(schema, doc)
    if depth > 6:
        return
    if path and _numeric(schema, doc):
        yield path
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            sub = _resolve(sub, doc)
            if sub.get("type") in ("object", "array") or "properties" in sub:
                yield from _numeric_fields(sub, doc, path, depth + 1)
    for name, sub in (schema.get("properties") or {}).items():
        yield from _numeric_fields(sub, doc, (*path, name), depth + 1)
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        yield from _numeric_fields(schema["items"], doc, (*path, 0), depth + 1)


# Plausible values for required fields, so that a number sent as a string ("1e999999999")
# gets past the body's other fields to the model that converts it.
_EXAMPLES = {"currency": "USD", "email": "fuzz@example.com", "url": "https://example.com/h",
             "merchantUserName": "fuzz@example.com", "userEmail": "fuzz@example.com",
             "merchantEmail": "fuzz.shop@example.com", "password": "Fuzz-Passw0rd-2025",
             "paymentMethod": "NOR_WALLET", "payer": "0x" + "ab" * 20,
             "number": "4242424242424242", "cvc": "123", "dueDate": "1893456000"}


def _example(schema: dict, doc: dict, name: str = "", depth: int = 0) -> Any:
    schema = _resolve(schema, doc)
    if depth > 6:
        return None
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [_resolve(s, doc) for s in schema.get(key, [])]
        options = [s for s in options if s.get("type") != "null"]
        if options:
            return _example(options[0], doc, name, depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {k: _example(v, doc, k, depth + 1) for k, v in props.items()
                if k in schema.get("required", [])}
    if kind == "array":
        item = _example(schema.get("items") or {}, doc, name, depth + 1)
        return [item] * max(schema.get("minItems", 0), 1 if item is not None else 0)
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return False
    if kind == "string":
        return _EXAMPLES.get(name, "x" * max(schema.get("minLength", 1), 3))
    return None


def _nest(path: tuple, leaf: Any, base: Any = None) -> Any:
    """`base` (or a new object) with `leaf` at `path`."""
    if not path:
        return leaf
    head, rest = path[0], path[1:]
    if head == 0:
        inner = base[0] if isinstance(base, list) and base else None
        return [_nest(rest, leaf, inner)]
    out = dict(base) if isinstance(base, dict) else {}
    out[head] = _nest(rest, leaf, out.get(head))
    return out


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += "[0]" if part == 0 else (f".{part}" if out else part)
    return out


def _fill(template: str, tenant) -> str:
    ids = {"merchantId": str(tenant.merchant_id), "merchantUid": tenant.merchant_uid}
    return re.sub(r"\{([^}]+)\}", lambda m: ids.get(m.group(1), "1"), template)


async def test_every_numeric_field_of_the_openapi_document_refuses_huge_numbers(
        stack, tenant, services, widget_key):
    """Huge exponents and digit counts into every number or integer property of every
    documented request body, as JSON numbers and as strings (the other required fields
    filled in), with the credentials of the route's family: every answer a 4xx. And into
    every GET's query parameters, documented or read by handlers: never a 5xx. No
    service grows by 50 MB meanwhile."""
    gw = tenant.gateway
    super_headers = {"Authorization": f"Bearer {await _sign_in_super(stack)}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(gw + "/openapi.json") as resp:
            doc = await resp.json()
    assert "x-unavailable-services" not in doc["info"], doc["info"]

    def headers_for(path: str) -> dict[str, str]:
        if path.startswith("/api/v1/transaction/m/"):
            return tenant.key_headers  # a merchant's own token generation
        if path.startswith("/api/v1/"):
            return super_headers
        if path.startswith("/v1/widget/"):
            return {"X-API-Key": widget_key, "Origin": WIDGET_ORIGIN}
        return tenant.key_headers

    memory = Memory(services)
    memory.start()
    answers: list[tuple[str, str, str, int, Any]] = []
    fields_tried = 0
    async with aiohttp.ClientSession() as http:
        for template, operations in sorted(doc["paths"].items()):
            url = gw + _fill(template, tenant)
            headers = headers_for(template)
            for method, op in operations.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                if template == "/api/v1/auth/sign-out":
                    continue  # would end the session, not test anything
                content = ((op.get("requestBody") or {}).get("content") or {})
                schema = (content.get("application/json") or {}).get("schema")
                base = _example(schema, doc) if schema else None
                for path in (list(_numeric_fields(schema, doc)) if schema else []):
                    fields_tried += 1
                    for literal in HUGE.values():
                        for as_text in (False, True):  # 1e999999999 and "1e999999999"
                            leaf = json.dumps(literal) if as_text else literal
                            raw = _with(_nest(path, _MARK, base), leaf)
                            status, body, _ = await _send(http, method.upper(), url,
                                                          headers=headers, raw=raw)
                            answers.append((f"{method.upper()} {template}", _dotted(path),
                                            literal[:16] + ("(str)" if as_text else ""),
                                            status, body))
                if method != "get":
                    continue
                documented = {p["name"] for p in op.get("parameters", [])
                              if p.get("in") == "query"}
                for name in sorted(documented | set(QUERY_NUMBERS)):
                    for literal in HUGE_QUERY:
                        status, body, _ = await _send(http, "GET", url, headers=headers,
                                                      params={name: literal})
                        answers.append((f"GET {template}", f"?{name}", literal[:16], status,
                                        body))
    figures = memory.assert_flat(50 * MB)
    # A body's number is refused (4xx); a query parameter a route does not read may be
    # ignored (2xx), but none may break it.
    bad = [(op, field, value, status, str(body)[:200])
           for op, field, value, status, body in answers
           if status >= 500 or (status < 400 and not field.startswith("?"))]
    assert not bad, bad
    assert fields_tried >= 20, fields_tried  # the walk found the document's numbers
    # The JSON numbers are refused by the reader itself, naming the field's path (but a
    # route may check who asks, or what the path names, first).
    numbers = [(field, status, body) for _, field, value, status, body in answers
               if not value.endswith("(str)") and not field.startswith("?")]
    named = sum(1 for field, status, body in numbers
                if status == 400 and field in _message(body))
    print(f"{len(answers)} requests, {fields_tried} numeric fields, {named} of "
          f"{len(numbers)} numbers refused naming the field;",
          {n: {k: v // MB for k, v in f.items()} for n, f in figures.items()}, "MB")
    assert named >= 0.9 * len(numbers), named


# --- the hosted pages' forms ----------------------------------------------------------------

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FORM_NUMBERS = ["9" * 100_000, "1e999999999", "-1e999999999", "1e-999999999", "٩" * 5000]


async def test_hosted_checkout_forms_refuse_huge_card_numbers(tenant, services):
    """The hosted page's card form sends the expiry as text: never a 5xx, never growth."""
    memory = Memory({"checkout": services["checkout"]})
    memory.start()
    async with aiohttp.ClientSession() as http:
        status, created = await _create_payment(http, tenant)
        assert status == 201, created
        page = f"{tenant.gateway}/checkout/{created['result']['paymentId']}"
        async with http.get(page) as resp:
            csrf = _CSRF.search(await resp.text()).group(1)
        for text in FORM_NUMBERS:
            form = {"csrf": csrf, "method": "VISA_MASTER", "card_number": "4242424242424242",
                    "exp_month": text, "exp_year": text, "cvc": text[:4]}
            async with http.post(page + "/pay", data=form, allow_redirects=False) as resp:
                assert 400 <= resp.status < 500, (text[:12], resp.status)
    memory.assert_flat(20 * MB)


async def test_the_norah_page_form_refuses_huge_card_numbers(tenant, services):
    memory = Memory({"checkout": services["checkout"]})
    memory.start()
    async with aiohttp.ClientSession() as http:
        status, body, _ = await _send(http, "POST",
                                      tenant.gateway + "/api/v1/transaction/m/generate",
                                      headers=tenant.key_headers,
                                      raw=json.dumps({"amount": 10, "currency": "USD"}))
        assert status == 200, body
        token = body["data"]["token"]
        async with http.get(tenant.gateway + "/check-out",
                            params={"token": token, "type": "m"}) as resp:
            assert resp.status == 200, await resp.text()
            csrf = _CSRF.search(await resp.text()).group(1)
        for text in FORM_NUMBERS:
            form = {"token": token, "type": "m", "csrf": csrf, "method": "VISA_MASTER",
                    "card_number": "4242424242424242", "exp_month": text, "exp_year": text,
                    "cvc": text[:4], "phone": text, "account": text}
            async with http.post(tenant.gateway + "/check-out", data=form,
                                 allow_redirects=False) as resp:
                assert 400 <= resp.status < 500, (text[:12], resp.status)
    memory.assert_flat(20 * MB)
