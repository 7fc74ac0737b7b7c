"""The SDK's own behaviour (request shape, errors, retries, idempotency keys), checked on
httpx's MockTransport. The API itself is exercised by tests/e2e/test_sdk.py."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

import norchain
from norchain import (
    AuthenticationError,
    Conflict,
    InvalidRequest,
    NorPayClient,
    NorPayError,
    NotFound,
    PaymentExpired,
    PaymentFailed,
    PermissionDenied,
    RateLimited,
    ServerError,
)

KEY = "nk_test_key"
BASE = "http://gateway.test"


def ok(result, status=200, message="OK"):
    return httpx.Response(status, json={"status": "1", "message": message, "result": result})


def fail(status, message, code, headers=None):
    return httpx.Response(status, json={"status": "0", "message": f"Error! {message}",
                                        "result": None},
                          headers={"X-Error-Code": code, "X-Request-ID": "req-1",
                                   **(headers or {})})


class Recorder:
    """A scripted server: answers (or raises) in order and records every request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer

    def bodies(self):
        return [json.loads(r.content) if r.content else None for r in self.requests]


@pytest.fixture
def sleeps(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("norchain._client.time.sleep", slept.append)
    return slept


def client(recorder, **kw) -> NorPayClient:
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    return NorPayClient(api_key=KEY, base_url=BASE, http_client=http, **kw)


def test_create_sends_the_seed_body_in_camel_case_and_answers_the_result():
    server = Recorder(ok({"paymentId": "pay_1", "checkoutUrl": "http://x/checkout/pay_1"},
                         201))
    payment = client(server).payments.create(
        amount="1000000000000000000", currency="NOR", description="Product purchase",
        success_url="https://yoursite.com/success", cancel_url="https://yoursite.com/cancel",
        metadata={"order_id": "order_123", "customerId": "cust_456"})
    assert payment == {"paymentId": "pay_1", "checkoutUrl": "http://x/checkout/pay_1"}
    request = server.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/api/v2/payments/create"
    assert request.headers["X-API-Key"] == KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"].startswith("norchain-")
    assert server.bodies()[0] == {
        "amount": "1000000000000000000", "currency": "NOR", "description": "Product purchase",
        "successUrl": "https://yoursite.com/success",
        "cancelUrl": "https://yoursite.com/cancel",
        # metadata is the caller's data: its keys are never renamed
        "metadata": {"order_id": "order_123", "customerId": "cust_456"}}


def test_nested_arguments_are_camel_cased_and_datetimes_become_unix_seconds():
    server = Recorder(ok({"invoiceId": "inv_1"}, 201))
    due = dt.datetime(2030, 1, 2, tzinfo=dt.timezone.utc)
    client(server).invoices.create(
        customer={"name": "Acme Corporation", "email": "billing@acme.com"},
        items=[{"description": "NorLedger Pro - Monthly", "quantity": 1,
                "unit_price": "50000000000000000000", "amount": "50000000000000000000"}],
        currency="NOR", due_date=due)
    body = server.bodies()[0]
    assert body["items"][0]["unitPrice"] == "50000000000000000000"
    assert "unit_price" not in body["items"][0]
    assert body["dueDate"] == str(int(due.timestamp()))
    assert "notes" not in body  # None is not sent


def test_a_naive_datetime_is_refused_before_anything_is_sent():
    server = Recorder(ok({}))
    with pytest.raises(ValueError, match="timezone"):
        client(server).invoices.create(customer={}, items=[], currency="NOR",
                                       due_date=dt.datetime(2030, 1, 2))
    assert server.requests == []


def test_query_parameters_are_camel_cased_except_per_page():
    server = Recorder(ok({"entries": [], "pagination": {"page": 2, "per_page": 5, "total": 0}}))
    client(server).ledger.entries.list(reference_type="payment", reference_id="pay_1",
                                       page=2, per_page=5)
    request = server.requests[0]
    assert request.method == "GET"
    assert request.url.path == "/api/v2/ledger/entries"
    assert dict(request.url.params) == {"referenceType": "payment", "referenceId": "pay_1",
                                        "page": "2", "per_page": "5"}
    assert "Idempotency-Key" not in request.headers
    assert request.content == b""


def test_every_resource_method_calls_its_route():
    server = Recorder(lambda r: ok({"path": r.url.path, "method": r.method}))
    c = client(server)
    calls = {
        ("GET", "/api/v2/payments/pay_1"): lambda: c.payments.get("pay_1"),
        ("POST", "/api/v2/payments/pay_1/confirm"): lambda: c.payments.confirm(
            "pay_1", payment_method="NOR_WALLET", payer="0x1"),
        ("POST", "/api/v2/payments/pay_1/action"): lambda: c.payments.action("pay_1", otp="1"),
        ("POST", "/api/v2/payments/pay_1/cancel"): lambda: c.payments.cancel("pay_1"),
        ("POST", "/api/v2/payments/pay_1/refund"): lambda: c.payments.refund("pay_1"),
        ("POST", "/api/v2/plans/create"): lambda: c.plans.create(
            name="Pro", amount="5", currency="NOR"),
        ("GET", "/api/v2/plans"): lambda: c.plans.list(),
        ("GET", "/api/v2/plans/plan_1"): lambda: c.plans.get("plan_1"),
        ("POST", "/api/v2/subscriptions/create"): lambda: c.subscriptions.create(
            plan_id="plan_1", customer_id="cust_1"),
        ("GET", "/api/v2/subscriptions/sub_1"): lambda: c.subscriptions.get("sub_1"),
        ("POST", "/api/v2/subscriptions/sub_1/cancel"): lambda: c.subscriptions.cancel(
            "sub_1", cancel_at_period_end=True),
        ("GET", "/api/v2/subscriptions/sub_1/invoices"): lambda: c.subscriptions.invoices(
            "sub_1"),
        ("POST", "/api/v2/subscriptions/sub_1/payment-method"):
            lambda: c.subscriptions.set_payment_method("sub_1", payment_method="NOR_WALLET",
                                                       payer="0x1"),
        ("GET", "/api/v2/invoices/inv_1"): lambda: c.invoices.get("inv_1"),
        ("POST", "/api/v2/invoices/inv_1/send"): lambda: c.invoices.send("inv_1"),
        ("POST", "/api/v2/invoices/inv_1/void"): lambda: c.invoices.void("inv_1"),
        ("POST", "/api/v2/invoices/tax-rates"): lambda: c.invoices.tax_rates.create(
            name="VAT", percentage=15),
        ("GET", "/api/v2/invoices/tax-rates"): lambda: c.invoices.tax_rates.list(),
        ("GET", "/api/v2/merchants/dashboard"): lambda: c.merchants.get_dashboard(
            period="week"),
        ("GET", "/api/v2/ledger/accounts"): lambda: c.ledger.accounts.list(),
        ("GET", "/api/v2/ledger/trial-balance"): lambda: c.ledger.trial_balance(),
        ("GET", "/api/v2/ledger/settlement"): lambda: c.ledger.settlement(period="month"),
        ("POST", "/api/v2/ledger/transactions/ltx_1/reverse"):
            lambda: c.ledger.transactions.reverse("ltx_1"),
        ("POST", "/api/v2/webhooks/endpoints"): lambda: c.webhooks.endpoints.create(
            url="https://example.com/hook"),
        ("GET", "/api/v2/webhooks/endpoints"): lambda: c.webhooks.endpoints.list(),
        ("GET", "/api/v2/webhooks/endpoints/we_1"): lambda: c.webhooks.endpoints.get("we_1"),
        ("PATCH", "/api/v2/webhooks/endpoints/we_1"): lambda: c.webhooks.endpoints.update(
            "we_1", enabled=False),
        ("DELETE", "/api/v2/webhooks/endpoints/we_1"): lambda: c.webhooks.endpoints.delete(
            "we_1"),
        ("POST", "/api/v2/webhooks/endpoints/we_1/rotate-secret"):
            lambda: c.webhooks.endpoints.rotate_secret("we_1"),
        ("POST", "/api/v2/webhooks/endpoints/we_1/test"): lambda: c.webhooks.endpoints.test(
            "we_1", event_type="payment.completed"),
        ("GET", "/api/v2/webhooks/deliveries"): lambda: c.webhooks.deliveries.list(
            status="failed"),
        ("GET", "/api/v2/webhooks/deliveries/wd_1"): lambda: c.webhooks.deliveries.get("wd_1"),
        ("POST", "/api/v2/webhooks/deliveries/wd_1/redeliver"):
            lambda: c.webhooks.deliveries.redeliver("wd_1"),
        ("POST", "/api/v2/webhooks/redeliver"): lambda: c.webhooks.redeliver(
            endpoint_id="we_1", since=0),
    }
    for (method, path), call in calls.items():
        assert call() == {"path": path, "method": method}, (method, path)


def test_ids_are_escaped_into_one_path_segment():
    server = Recorder(lambda r: ok({"raw": r.url.raw_path.decode()}))
    assert client(server).payments.get("../merchants/dashboard") == {
        "raw": "/api/v2/payments/..%2Fmerchants%2Fdashboard"}
    with pytest.raises(ValueError):
        client(server).payments.get("")


def test_pdf_answers_the_bytes():
    server = Recorder(httpx.Response(200, content=b"%PDF-1.4 ...",
                                     headers={"Content-Type": "application/pdf"}))
    assert client(server).invoices.pdf("inv_1") == b"%PDF-1.4 ..."


@pytest.mark.parametrize("status,code,kind", [
    (400, "amount_not_positive", InvalidRequest),
    (401, "invalid_api_key", AuthenticationError),
    (402, "insufficient_balance", PaymentFailed),
    (403, "forbidden", PermissionDenied),
    (404, "not_found", NotFound),
    (409, "payment_state", Conflict),
    (410, "payment_expired", PaymentExpired),
])
def test_errors_are_typed_and_carry_the_apis_message_and_code(status, code, kind, sleeps):
    server = Recorder(fail(status, "Something specific", code))
    with pytest.raises(kind) as caught:
        client(server).payments.create(amount="0", currency="NOR")
    err = caught.value
    assert isinstance(err, NorPayError)
    assert str(err) == err.message == "Error! Something specific"
    assert (err.status, err.code, err.request_id) == (status, code, "req-1")
    assert len(server.requests) == 1 and sleeps == []  # a refusal is not retried


def test_rate_limited_is_retried_after_the_servers_delay_then_raised(sleeps):
    server = Recorder(fail(429, "Too many requests; retry later", "rate_limited",
                           {"Retry-After": "2"}))
    with pytest.raises(RateLimited) as caught:
        client(server, max_retries=2).payments.get("pay_1")
    assert caught.value.retry_after == 2.0
    assert len(server.requests) == 3
    assert all(s >= 2.0 for s in sleeps) and len(sleeps) == 2


def test_a_retry_after_beyond_a_minute_is_not_waited_for(sleeps):
    server = Recorder(fail(429, "Too many requests; retry later", "rate_limited",
                           {"Retry-After": "3600"}))
    with pytest.raises(RateLimited):
        client(server).payments.get("pay_1")
    assert len(server.requests) == 1 and sleeps == []


def test_a_create_retried_after_a_dropped_connection_reuses_its_idempotency_key(sleeps):
    server = Recorder(httpx.RemoteProtocolError("Server disconnected"),
                      fail(503, "The checkout service is unavailable; retry later",
                           "upstream_unavailable"),
                      ok({"paymentId": "pay_1"}, 201))
    payment = client(server, max_retries=3).payments.create(amount="1", currency="NOR")
    assert payment == {"paymentId": "pay_1"}
    keys = {r.headers["Idempotency-Key"] for r in server.requests}
    bodies = {r.content for r in server.requests}
    assert len(server.requests) == 3 and len(keys) == 1 and len(bodies) == 1
    assert len(sleeps) == 2 and sleeps[1] >= sleeps[0] * 0.5  # backoff, with jitter


def test_separate_creates_get_separate_keys_and_a_given_key_is_used():
    server = Recorder(ok({"paymentId": "pay_1"}, 201))
    c = client(server)
    c.payments.create(amount="1", currency="NOR")
    c.payments.create(amount="1", currency="NOR")
    c.payments.create(amount="1", currency="NOR", idempotency_key="order-123")
    keys = [r.headers["Idempotency-Key"] for r in server.requests]
    assert keys[0] != keys[1] and keys[2] == "order-123"


def test_a_request_still_in_progress_under_the_key_is_retried(sleeps):
    server = Recorder(fail(409, "A request with this Idempotency-Key is still in progress",
                           "idempotency_key_in_progress", {"Retry-After": "1"}),
                      ok({"paymentId": "pay_1"}, 201))
    assert client(server).payments.create(amount="1", currency="NOR") == {"paymentId": "pay_1"}
    assert sleeps and sleeps[0] >= 1


def test_a_key_reused_with_another_body_is_a_conflict_not_retried(sleeps):
    server = Recorder(fail(409, "Idempotency-Key was already used with a different request",
                           "idempotency_key_reused"))
    with pytest.raises(Conflict) as caught:
        client(server).payments.create(amount="1", currency="NOR", idempotency_key="k")
    assert caught.value.code == "idempotency_key_reused"
    assert len(server.requests) == 1


def test_server_errors_exhaust_the_retries_then_raise(sleeps):
    server = Recorder(fail(502, "The checkout service is unavailable; retry later",
                           "upstream_unavailable"))
    with pytest.raises(ServerError) as caught:
        client(server, max_retries=2).payments.get("pay_1")
    assert caught.value.status == 502 and len(server.requests) == 3


def test_timeouts_become_timeout_errors_and_no_retry_means_one_attempt(sleeps):
    server = Recorder(httpx.ReadTimeout("timed out"))
    with pytest.raises(norchain.Timeout) as caught:
        client(server, max_retries=0).payments.get("pay_1")
    assert isinstance(caught.value, norchain.ConnectionError)
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert len(server.requests) == 1 and sleeps == []


def test_an_unreachable_api_is_a_connection_error_after_the_retries(sleeps):
    server = Recorder(httpx.ConnectError("connection refused"))
    with pytest.raises(norchain.ConnectionError):
        client(server, max_retries=2).payments.get("pay_1")
    assert len(server.requests) == 3


def test_a_non_json_error_page_still_gives_a_typed_error(sleeps):
    server = Recorder(httpx.Response(404, text="<html>nope</html>"))
    with pytest.raises(NotFound) as caught:
        client(server).payments.get("pay_1")
    assert caught.value.message.startswith("HTTP 404")


def test_the_timeout_is_passed_to_httpx():
    seen = {}

    def handler(request):
        seen.update(request.extensions["timeout"])
        return ok({})
    client(Recorder(handler), timeout=4.5).payments.get("pay_1")
    assert seen["read"] == 4.5 and seen["connect"] == 4.5


def test_access_tokens_go_in_a_bearer_header_and_base_urls_are_normalised():
    server = Recorder(ok({}))
    http = httpx.Client(transport=httpx.MockTransport(server))
    c = NorPayClient(access_token="jwt.token", base_url=BASE + "/api/v2/", http_client=http)
    c.merchants.dashboard(period="today")
    request = server.requests[0]
    assert request.headers["Authorization"] == "Bearer jwt.token"
    assert "X-API-Key" not in request.headers
    assert str(request.url) == f"{BASE}/api/v2/merchants/dashboard?period=today"


def test_configuration_is_checked_and_the_key_never_shown(monkeypatch):
    monkeypatch.delenv("NORPAY_API_KEY", raising=False)
    with pytest.raises(ValueError, match="api_key"):
        NorPayClient()
    with pytest.raises(ValueError, match="base_url"):
        NorPayClient(api_key=KEY, base_url="gateway:8080")
    monkeypatch.setenv("NORPAY_API_KEY", "nk_from_env")
    with NorPayClient(base_url=BASE) as c:
        assert c.api_key == "nk_from_env"
        assert "nk_from_env" not in repr(c)
