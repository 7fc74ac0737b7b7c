"""The Python SDK (sdk/python, package norchain) against a `make run` stack: every
example of the NorPay seed, translated to the SDK, runs through the gateway with an
API key of a merchant onboarded through the same gateway and gets the seed's fields.
Also: typed errors with the API's messages, Idempotency-Key reuse on a retry after a
connection dropped mid-answer, and webhook signatures checked with norchain.webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

import httpx
import norchain
import pytest
from aiohttp import web
from multidict import CIMultiDict
from norchain import AsyncNorPayClient, NorPayClient

from tests.e2e.conftest import wait_stack_ready
from tests.support.onboarding import find_mail, onboard
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e
WALLET = "0x742d35cc6634c0532925a3b844bc454e4438f44e"
ONE_NOR = "1000000000000000000"
FIFTY_NOR = "50000000000000000000"
EPOCH = re.compile(r"^\d{10}$")


@pytest.fixture(scope="module")
async def merchant(stack):
    """Onboarded through the gateway: sign-up, confirm, sign in, merchant, activate, key."""
    await wait_stack_ready(stack)
    return await onboard(stack, "sdk", name="SDK Shop")


@pytest.fixture
async def norpay(stack, merchant):
    async with AsyncNorPayClient(api_key=merchant.key, base_url=stack.gateway) as client:
        yield client


def seed_python_example(api_key: str, base_url: str) -> dict:
    """The seed's Python example, verbatim but for base_url."""
    norpay = NorPayClient(api_key=api_key, base_url=base_url)

    payment = norpay.payments.create(
        amount='1000000000000000000',
        currency='NOR',
        description='Product purchase',
        success_url='https://yoursite.com/success',
        cancel_url='https://yoursite.com/cancel'
    )

    print(f"Checkout URL: {payment['checkoutUrl']}")
    norpay.close()
    return payment


async def test_seed_python_example_creates_a_payment_with_its_checkout_url(stack, merchant):
    payment = await asyncio.to_thread(seed_python_example, merchant.key, stack.gateway)
    assert set(payment) == {"paymentId", "amount", "currency", "status", "checkoutUrl",
                            "expiresAt", "createdAt", "livemode"}
    assert payment["paymentId"].startswith("pay_")
    assert (payment["amount"], payment["currency"], payment["status"]) == (
        ONE_NOR, "NOR", "pending")
    assert payment["checkoutUrl"] == f"{stack.gateway}/checkout/{payment['paymentId']}"
    assert EPOCH.match(payment["createdAt"])
    assert int(payment["expiresAt"]) - int(payment["createdAt"]) == 3600
    async with httpx.AsyncClient() as http:  # the hosted checkout page is real
        page = await http.get(payment["checkoutUrl"])
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


async def test_payment_details_after_confirming_with_a_nor_wallet(norpay):
    created = await norpay.payments.create(
        amount=ONE_NOR, currency="NOR", description="Product purchase",
        metadata={"orderId": "order_123"})
    confirmed = await norpay.payments.confirm(created["paymentId"],
                                              payment_method="NOR_WALLET", payer=WALLET)
    assert confirmed["status"] == "completed"
    payment = await norpay.payments.get(created["paymentId"])
    seed_fields = {"paymentId", "amount", "currency", "status", "description", "payer",
                   "transactionHash", "metadata", "createdAt", "completedAt"}
    assert seed_fields <= set(payment)
    assert payment["paymentId"] == created["paymentId"]
    assert (payment["amount"], payment["currency"], payment["status"]) == (
        ONE_NOR, "NOR", "completed")
    assert payment["description"] == "Product purchase"
    assert payment["payer"] == WALLET
    assert re.match(r"^0x[0-9a-f]{64}$", payment["transactionHash"])
    assert payment["metadata"] == {"orderId": "order_123"}
    assert int(payment["completedAt"]) >= int(payment["createdAt"])


async def test_seed_plan_subscription_and_cancel_examples(norpay):
    plan = await norpay.plans.create(
        name="NorPay Pro", amount=FIFTY_NOR, currency="NOR", interval="month",
        features=["Custom Branding", "API Webhooks", "Priority Support"])
    assert plan["planId"].startswith("plan_")
    assert plan["features"] == ["Custom Branding", "API Webhooks", "Priority Support"]

    subscription = await norpay.subscriptions.create(
        plan_id=plan["planId"], customer_id="cust_456", trial_days=14,
        metadata={"company": "Acme Corp"})
    seed_fields = {"subscriptionId", "planId", "customerId", "status", "currentPeriodStart",
                   "currentPeriodEnd", "trialEnd", "amount", "interval"}
    assert seed_fields <= set(subscription)
    assert subscription["subscriptionId"].startswith("sub_")
    assert (subscription["planId"], subscription["customerId"]) == (plan["planId"],
                                                                     "cust_456")
    assert subscription["status"] == "trialing"  # a trial is period 0 (docs/billing.md)
    assert (subscription["amount"], subscription["interval"]) == (FIFTY_NOR, "month")
    start, trial_end = int(subscription["currentPeriodStart"]), int(subscription["trialEnd"])
    assert trial_end - start == 14 * 86400
    assert subscription["metadata"] == {"company": "Acme Corp"}
    assert await norpay.subscriptions.get(subscription["subscriptionId"]) == subscription

    canceled = await norpay.subscriptions.cancel(
        subscription["subscriptionId"], cancel_at_period_end=True,
        reason="Customer requested cancellation")
    assert canceled["subscriptionId"] == subscription["subscriptionId"]
    assert canceled["status"] == "canceled"
    assert EPOCH.match(canceled["canceledAt"])
    assert canceled["endsAt"] == subscription["currentPeriodEnd"]
    assert canceled["cancelReason"] == "Customer requested cancellation"


async def test_seed_invoice_example_creates_and_sends_the_invoice(stack, norpay):
    due = int(time.time()) + 30 * 24 * 60 * 60  # 30 days, as the seed computes it
    invoice = await norpay.invoices.create(
        customer={"name": "Acme Corporation", "email": "billing@acme.com",
                  "address": "123 Business St"},
        items=[{"description": "NorLedger Pro - Monthly", "quantity": 1,
                "unit_price": FIFTY_NOR, "amount": FIFTY_NOR}],
        currency="NOR", due_date=due, notes="Payment due within 30 days")
    seed_fields = {"invoiceId", "invoiceNumber", "status", "subtotal", "tax", "total",
                   "currency", "dueDate", "pdfUrl", "paymentUrl"}
    assert seed_fields <= set(invoice)
    assert invoice["invoiceId"].startswith("inv_")
    assert re.match(r"^INV-\d{4}-\d{3,}$", invoice["invoiceNumber"])
    assert invoice["status"] == "draft"
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (FIFTY_NOR, "0",
                                                                      FIFTY_NOR)
    assert (invoice["currency"], invoice["dueDate"]) == ("NOR", str(due))
    assert invoice["pdfUrl"] == f"{stack.gateway}/api/v2/invoices/{invoice['invoiceId']}/pdf"
    assert invoice["paymentUrl"].startswith(f"{stack.gateway}/checkout/pay_")
    assert (await norpay.invoices.pdf(invoice["invoiceId"])).startswith(b"%PDF")

    sent = await norpay.invoices.send(invoice["invoiceId"])
    assert sent["invoiceId"] == invoice["invoiceId"]
    assert sent["recipient"] == "billing@acme.com"
    assert EPOCH.match(sent["sentAt"])
    assert (await norpay.invoices.get(invoice["invoiceId"]))["status"] == "open"
    mail = await poll_until(lambda: find_mail(stack, "billing@acme.com"), timeout=20,
                            what="the invoice e-mail")
    assert invoice["invoiceNumber"] in mail["Subject"] + mail.get_body(("plain",)).get_content()


async def test_seed_ledger_example_lists_the_payments_entries(norpay):
    payment = await norpay.payments.create(amount=ONE_NOR, currency="NOR",
                                           description="Product sale")
    await norpay.payments.confirm(payment["paymentId"], payment_method="NOR_WALLET",
                                  payer=WALLET)
    norledger = norpay.ledger

    async def posted():
        ledger_entries = await norledger.entries.list(reference_type="payment",
                                                      reference_id=payment["paymentId"])
        return ledger_entries if len(ledger_entries["entries"]) == 2 else None
    ledger_entries = await poll_until(posted, timeout=20, what="the payment's ledger entries")
    # Dr: Customer NOR Wallet 1.00 NOR / Cr: Revenue - Product Sales 1.00 NOR
    assert sorted(e["display"] for e in ledger_entries["entries"]) == [
        "Cr Revenue - Product Sales 1.00 NOR", "Dr Customer NOR Wallet 1.00 NOR"]
    assert {e["referenceId"] for e in ledger_entries["entries"]} == {payment["paymentId"]}
    assert ledger_entries["pagination"]["total"] == 2
    balance = await norledger.trial_balance()
    assert balance["balanced"] is True


async def test_seed_dashboard_counts_the_merchants_payments(norpay):
    # ZWG is used by no other test here, so its figures are this test's alone.
    paid = await norpay.payments.create(amount="2500", currency="ZWG",
                                        metadata={"product": "NorLedger Pro",
                                                  "customerId": "cust_dash"})
    await norpay.payments.confirm(paid["paymentId"], payment_method="ZIMSWITCH",
                                  account="12345678")
    await norpay.payments.create(amount="700", currency="ZWG")

    async def counted():
        board = await norpay.merchants.dashboard(period="month", currency="ZWG")
        return board if board["payments"]["total"] == 2 and \
            board["payments"]["completed"] == 1 else None
    board = await poll_until(counted, timeout=20, what="the dashboard's counts")
    assert board["revenue"]["total"] == board["revenue"]["payments"] == "2500"
    assert board["revenue"]["subscriptions"] == "0"
    assert board["payments"]["pending"] == 1 and board["payments"]["failed"] == 0
    assert board["topProducts"] == [{"name": "NorLedger Pro", "revenue": "2500", "count": 1}]
    assert board["customers"]["total"] >= 1

    seed = await norpay.merchants.get_dashboard(period="today")  # NOR, the seed's shape
    assert {"total", "payments", "subscriptions"} <= set(seed["revenue"])
    assert {"total", "completed", "pending", "failed"} <= set(seed["payments"])
    assert {"active", "trialing", "canceled"} <= set(seed["subscriptions"])
    assert {"total", "new"} <= set(seed["customers"])
    assert isinstance(seed["topProducts"], list)


async def test_errors_are_typed_with_the_seeds_messages(stack, norpay):
    with pytest.raises(norchain.InvalidRequest) as caught:
        await norpay.payments.create(amount="0", currency="NOR")
    assert caught.value.message == "Error! Amount must be greater than 0"
    assert (caught.value.status, caught.value.code) == (400, "amount_not_positive")

    broke = await norpay.payments.create(amount=ONE_NOR, currency="NOR")
    with pytest.raises(norchain.PaymentFailed) as caught:
        await norpay.payments.confirm(broke["paymentId"], payment_method="NOR_WALLET",
                                      payer="0x" + "2" * 36 + "dead")
    assert caught.value.message == "Error! Insufficient balance"
    assert (caught.value.status, caught.value.code) == (402, "insufficient_balance")

    with pytest.raises(norchain.Conflict) as caught:
        await norpay.payments.cancel(broke["paymentId"])  # failed: nothing to cancel
    assert caught.value.code == "payment_state"

    with pytest.raises(norchain.NotFound) as caught:
        await norpay.payments.get("pay_doesnotexist")
    assert caught.value.message == "Error! Payment not found"

    async with AsyncNorPayClient(api_key="nk_not_a_real_key", base_url=stack.gateway) as bad:
        with pytest.raises(norchain.AuthenticationError) as caught:
            await bad.payments.get("pay_doesnotexist")
    assert caught.value.status == 401 and caught.value.message.startswith("Error! ")


async def test_an_idempotency_key_answers_the_first_payment_again(norpay):
    first = await norpay.payments.create(amount=ONE_NOR, currency="NOR",
                                         idempotency_key="order-sdk-1")
    again = await norpay.payments.create(amount=ONE_NOR, currency="NOR",
                                         idempotency_key="order-sdk-1")
    assert again == first
    with pytest.raises(norchain.Conflict) as caught:
        await norpay.payments.create(amount="2" + ONE_NOR[1:], currency="NOR",
                                     idempotency_key="order-sdk-1")
    assert caught.value.code == "idempotency_key_reused"


class DropFirstAnswer:
    """A proxy in front of the gateway that lets the first request through, reads the
    gateway's whole answer, and then cuts the client's connection without it: the
    client cannot know whether its create happened."""

    def __init__(self, port: int):
        self.target = ("127.0.0.1", port)
        self.requests: list[bytes] = []
        self.dropped: bytes | None = None
        self.server: asyncio.Server | None = None

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader, writer):
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            request = head + await reader.readexactly(length)
            self.requests.append(request)
            up_writer.write(request.replace(b"keep-alive", b"close"))
            await up_writer.drain()
            answer = await up_reader.read()  # the gateway closes after one answer
            if self.dropped is None:
                self.dropped = answer
                writer.transport.abort()
                return
            writer.write(answer)
            await writer.drain()
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                writer.close()


async def test_a_create_retried_after_a_lost_answer_gets_the_stored_payment(stack, merchant):
    proxy = DropFirstAnswer(stack.port("gateway"))
    async with proxy as url:
        async with AsyncNorPayClient(api_key=merchant.key, base_url=url, backoff=0.1,
                                     headers={"Connection": "close"}) as client:
            payment = await client.payments.create(amount=ONE_NOR, currency="NOR",
                                                   description="Retried create")
    assert len(proxy.requests) == 2
    keys = [re.search(rb"(?i)idempotency-key: *(\S+)", r).group(1) for r in proxy.requests]
    assert keys[0] == keys[1]
    # The answer the client never saw holds the very payment the retry was given.
    assert payment["paymentId"].encode() in proxy.dropped
    assert b" 201 " in proxy.dropped.split(b"\r\n", 1)[0]


class Receiver:
    """A merchant's webhook endpoint that keeps each delivery's raw body and headers."""

    def __init__(self):
        self.deliveries: list[tuple[bytes, CIMultiDict]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _hook(self, request: web.Request) -> web.Response:
        self.deliveries.append((await request.read(), CIMultiDict(request.headers)))
        return web.json_response({"received": True})

    async def __aenter__(self):
        app = web.Application()
        app.router.add_post("/webhooks/norpay", self._hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/webhooks/norpay"
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


async def test_webhooks_are_registered_and_verified_with_the_sdk(norpay):
    async with Receiver() as receiver:
        endpoint = await norpay.webhooks.endpoints.create(
            url=receiver.url, events=["payment.completed"], description="SDK test")
        secret = endpoint["secret"]
        assert secret.startswith("whsec_")
        listed = await norpay.webhooks.endpoints.list()
        assert endpoint["endpointId"] in {e["endpointId"] for e in listed["endpoints"]}

        payment = await norpay.payments.create(amount=ONE_NOR, currency="NOR",
                                               metadata={"orderId": "order_123"})
        await norpay.payments.confirm(payment["paymentId"], payment_method="NOR_WALLET",
                                      payer=WALLET)
        await poll_until(lambda: receiver.deliveries, timeout=30, what="a webhook delivery")
        body, headers = receiver.deliveries[0]

        # The seed's Express example, with the SDK's helper.
        signature = headers["X-NorPay-Signature"]
        assert norchain.webhooks.verify(body.decode(), signature, secret)
        assert not norchain.webhooks.verify(body.decode(), signature, "whsec_wrong")
        event = norchain.webhooks.verify_headers(body, headers, secret)
        assert event["event"] == "payment.completed"
        assert event["data"]["paymentId"] == payment["paymentId"]
        assert event["data"]["metadata"] == {"orderId": "order_123"}
        assert event["id"] == headers["webhook-id"]

        async def logged():
            rows = (await norpay.webhooks.deliveries.list(
                endpoint_id=endpoint["endpointId"]))["deliveries"]
            return rows if rows and rows[0]["status"] == "succeeded" else None
        await poll_until(logged, timeout=20, what="the delivery log")
        updated = await norpay.webhooks.endpoints.update(endpoint["endpointId"], enabled=False)
        assert updated["enabled"] is False
        deleted = await norpay.webhooks.endpoints.delete(endpoint["endpointId"])
        assert deleted == {"endpointId": endpoint["endpointId"], "deleted": True}
        with pytest.raises(norchain.NotFound):
            await norpay.webhooks.endpoints.get(endpoint["endpointId"])
