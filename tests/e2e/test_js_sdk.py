"""@norchain/sdk (sdk/js) against a `make run` stack: every JavaScript example of the
NorPay seed, cut from the seed's own text and run verbatim (only the key and a
`baseUrl` added; a `window` for the redirect line; `norpay`, `norledger` and Express's
`app` made where a snippet uses them without making them), from a fresh project that
installed the package's `npm pack` tarball. The examples are TypeScript (the webhook
one is typed), so they are compiled with tsc first: a type error fails the test.
The Express webhook example receives and verifies a real delivery."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from norchain import AsyncNorPayClient

from tests.e2e.conftest import wait_stack_ready
from tests.support.onboarding import find_mail, onboard
from tests.support.poll import poll_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk" / "js"
SEED = ROOT.parent / "shared" / "seeds" / "norpay-payments-api.txt"
WALLET = "0x742d35cc6634c0532925a3b844bc454e4438f44e"
ONE_NOR = "1000000000000000000"
KEY_PLACEHOLDER = "'nk_your_merchant_key'"

# Each example in the seed's text: its first line, and its last line, the first such
# line after the anchor (a line of the example; the first line when None).
EXAMPLES = {
    "payment": ("import { NorPayClient } from '@norchain/sdk';",
                "window.location.href = payment.checkoutUrl;", None),
    "subscription": ("// Create subscription plan",
                     "console.log('Subscription created:', subscription.subscriptionId);", None),
    "invoice": ("const invoice = await norpay.invoices.create({",
                "console.log('Payment URL:', invoice.paymentUrl);", None),
    "webhook": ("import crypto from 'crypto';", "});", "app.post('/webhooks/norpay', "
                "express.raw({ type: 'application/json' }), (req, res) => {"),
    # The hosted checkout's create call, up to its redirect.
    "hosted": ("// Hosted Checkout", "window.location.href = payment.checkoutUrl;",
               "// Redirect to hosted checkout"),
    "ledger": ("// Payment creates ledger entries automatically", "});",
               "const ledgerEntries = await norledger.entries.list({"),
}
# What each example's result is printed as, after it ran (the test reads it).
RESULTS = {
    "payment": "{ payment, href: window.location.href }",
    "subscription": "{ plan, subscription }",
    "invoice": "{ invoice }",
    "hosted": "{ payment, href: window.location.href }",
    "ledger": "{ payment, ledgerEntries }",
}


def _seed_snippet(name: str) -> str:
    """The example's lines, verbatim, from the seed document."""
    lines = SEED.read_text().splitlines()
    first, last, anchor = EXAMPLES[name]
    if first.startswith("// Hosted"):  # no first line of its own: the create before it
        at = lines.index(anchor)
        start = max(i for i in range(at) if lines[i].startswith("const payment = await"))
    else:
        start = lines.index(first)
    after = start if anchor is None else lines.index(anchor, start)
    end = next(i for i in range(after, len(lines)) if lines[i] == last)
    return "\n".join(lines[start:end + 1])


def _example_source(name: str, key: str, gateway: str) -> str:
    snippet = _seed_snippet(name)
    if KEY_PLACEHOLDER in snippet:  # the one example that makes its own client
        snippet = snippet.replace(KEY_PLACEHOLDER, f"'{key}',\n  baseUrl: '{gateway}'")
    head = ["import './shim.js';"]
    if "new NorPayClient" not in snippet and name != "webhook":
        options = f"{{ apiKey: '{key}', baseUrl: '{gateway}' }}"
        head += ["import { NorPayClient, NorLedgerClient } from '@norchain/sdk';",
                 f"const norpay = new NorPayClient({options});",
                 f"const norledger = new NorLedgerClient({options});",
                 "void norledger;"]
    if name == "webhook":
        head += ["import express from 'express';", "const app = express();"]
        tail = ["app.listen(Number(process.env.PORT), '127.0.0.1',"
                " () => console.log('LISTENING'));"]
    else:
        tail = [f"console.log('RESULT ' + JSON.stringify({RESULTS[name]}));"]
    return "\n".join(head + [snippet] + tail) + "\n"


def _run(args: list[str], cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
async def project(tmp_path_factory) -> Path:
    """A fresh npm project with the packed @norchain/sdk, Express and TypeScript."""
    assert shutil.which("node") and shutil.which("npm"), "Node.js and npm are needed"
    where = tmp_path_factory.mktemp("seed-examples")

    def build() -> None:
        _run(["npm", "ci", "--no-audit", "--no-fund"], SDK)
        _run(["npm", "run", "build"], SDK)
        tarball = _run(["npm", "pack", "--silent", "--pack-destination", str(where)],
                       SDK).strip().splitlines()[-1]
        (where / "package.json").write_text(json.dumps(
            {"name": "seed-examples", "private": True, "type": "module"}))
        _run(["npm", "install", "--no-audit", "--no-fund", str(where / tarball),
              "express@5", "typescript@5.9.3", "@types/node@20"], where)
        (where / "examples").mkdir()
        # Strict, as `tsc --init` makes a project; but the webhook example, which is
        # written against an untyped Express (its header may be a list in @types/express).
        options = {"target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext",
                   "lib": ["ES2022", "DOM"], "types": ["node"], "outDir": "out",
                   "rootDir": "examples", "skipLibCheck": True, "strict": True}
        (where / "tsconfig.json").write_text(json.dumps({
            "compilerOptions": options, "include": ["examples"],
            "exclude": ["examples/webhook.ts"]}))
        (where / "tsconfig.webhook.json").write_text(json.dumps({
            "compilerOptions": {**options, "strict": False},
            "files": ["examples/webhook.ts", "examples/shim.ts"]}))
        # The browser's redirect target, for the examples' `window.location.href = ...`.
        (where / "examples" / "shim.ts").write_text(
            "(globalThis as any).window = { location: { href: '' } };\nexport {};\n")

    await asyncio.to_thread(build)
    return where


@pytest.fixture(scope="module")
async def examples(stack, project):
    """The examples compiled for the merchant onboarded through the stack."""
    await wait_stack_ready(stack)
    merchant = await onboard(stack, "jssdk", name="JS SDK Shop")
    for name in EXAMPLES:
        (project / "examples" / f"{name}.ts").write_text(
            _example_source(name, merchant.key, stack.gateway))
    # tsc over the examples, as they are written: a type error is a failure.
    for config in ("tsconfig.json", "tsconfig.webhook.json"):
        await asyncio.to_thread(
            _run, ["node", "node_modules/typescript/bin/tsc", "-p", config], project)
    return project, merchant


async def _node(project: Path, name: str) -> dict:
    out = await asyncio.to_thread(
        _run, ["node", f"out/{name}.js"], project, 120)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, out
    return {"stdout": out, **json.loads(lines[-1][len("RESULT "):])}


async def test_the_payment_example_creates_a_payment_and_redirects_to_its_checkout(
        stack, examples):
    project, _ = examples
    for name in ("payment", "hosted"):
        got = await _node(project, name)
        payment = got["payment"]
        assert payment["paymentId"].startswith("pay_")
        assert (payment["amount"], payment["currency"], payment["status"]) == (
            ONE_NOR, "NOR", "pending")
        assert got["href"] == payment["checkoutUrl"] == \
            f"{stack.gateway}/checkout/{payment['paymentId']}"
        async with httpx.AsyncClient() as http:  # the checkout page is real
            page = await http.get(got["href"])
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]


async def test_the_subscription_example_makes_a_plan_and_a_trialing_subscription(examples):
    project, merchant = examples
    got = await _node(project, "subscription")
    plan, subscription = got["plan"], got["subscription"]
    assert plan["planId"].startswith("plan_") and plan["name"] == "NorPay Pro"
    assert plan["amount"] == "50000000000000000000"
    assert plan["features"] == ["Custom Branding", "API Webhooks", "Priority Support"]
    assert subscription["planId"] == plan["planId"]
    assert subscription["customerId"] == "cust_456" and subscription["status"] == "trialing"
    assert f"Subscription created: {subscription['subscriptionId']}" in got["stdout"]


async def test_the_invoice_example_creates_and_sends_an_invoice(stack, examples):
    project, _ = examples
    got = await _node(project, "invoice")
    invoice = got["invoice"]
    assert invoice["invoiceId"].startswith("inv_")
    assert f"Invoice sent: {invoice['invoiceNumber']}" in got["stdout"]
    assert f"Payment URL: {invoice['paymentUrl']}" in got["stdout"]
    mail = await poll_until(lambda: find_mail(stack, "billing@acme.com"), timeout=30,
                            what="the invoice e-mail")
    assert invoice["invoiceNumber"] in mail["Subject"]


async def test_the_ledger_example_lists_the_payments_entries(examples):
    project, _ = examples
    got = await _node(project, "ledger")
    entries = got["ledgerEntries"]
    assert isinstance(entries["entries"], list) and "pagination" in entries
    assert all(e["referenceId"] == got["payment"]["paymentId"] for e in entries["entries"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_express_example_verifies_a_real_delivery(stack, examples):
    project, merchant = examples
    port = _free_port()
    async with AsyncNorPayClient(api_key=merchant.key, base_url=stack.gateway) as norpay:
        endpoint = await norpay.webhooks.endpoints.create(
            url=f"http://127.0.0.1:{port}/webhooks/norpay", events=["payment.completed"])
        env = {**os.environ, "PORT": str(port), "NORPAY_WEBHOOK_SECRET": endpoint["secret"]}
        proc = await asyncio.create_subprocess_exec(
            "node", "out/webhook.js", cwd=project, env=env, stdin=subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        seen: list[str] = []

        async def read() -> None:
            assert proc.stdout is not None
            async for line in proc.stdout:
                seen.append(line.decode().rstrip())

        reader = asyncio.create_task(read())
        try:
            await poll_until(lambda: "LISTENING" in seen, timeout=20, what="the Express app")
            async with httpx.AsyncClient() as http:  # a forged delivery is refused
                forged = await http.post(
                    f"http://127.0.0.1:{port}/webhooks/norpay",
                    content=b'{"event":"payment.completed","data":{"paymentId":"pay_x"}}',
                    headers={"Content-Type": "application/json",
                             "X-NorPay-Signature": "0" * 64})
            assert (forged.status_code, forged.text) == (401, "Invalid signature")
            payment = await norpay.payments.create(amount=ONE_NOR, currency="NOR")
            await norpay.payments.confirm(payment["paymentId"], payment_method="NOR_WALLET",
                                          payer=WALLET)
            wanted = f"Payment completed: {payment['paymentId']}"
            await poll_until(lambda: wanted in seen, timeout=60,
                             what="the Express example to log the verified delivery")

            async def answered():
                rows = (await norpay.webhooks.deliveries.list(
                    endpoint_id=endpoint["endpointId"]))["deliveries"]
                return rows if rows and rows[0]["status"] == "succeeded" else None

            rows = await poll_until(answered, timeout=30, what="the delivery logged succeeded")
            assert rows[0]["lastStatusCode"] == 200
        finally:
            proc.terminate()
            with contextlib.suppress(ProcessLookupError):
                await asyncio.wait_for(proc.wait(), 10)
            reader.cancel()
            await norpay.webhooks.endpoints.delete(endpoint["endpointId"])
