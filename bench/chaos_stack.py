"""The stack under test for `make chaos`: each service a child process of its own
(so one can be killed with SIGKILL and started again), plus the local mail sink;
and a merchant onboarded through the public gateway as a real one would be, with its
settlement accounts and payout schedule.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import signal
import sys
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import aiohttp

from deploy.run import _die_with_parent
from shared.settings import SERVICES

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Chaos-Owner-2025!"
SUPER_EMAIL = "super@chaos.local"
SUPER_PASSWORD = secrets.token_urlsafe(16)  # new each run: no public password


class Processes:
    """One child process per service, started, killed and restarted one at a time."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.procs: dict[str, asyncio.subprocess.Process] = {}

    def port(self, name: str) -> int:
        return int(self.env[f"NORGATE_{name.upper()}_PORT"])

    async def spawn(self, name: str) -> None:
        module = "deploy.mailsink" if name == "mailsink" else f"services.{name}"
        with open(self.log_dir / f"{name}.log", "ab") as log:
            self.procs[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, env=self.env, cwd=ROOT, stdout=log,
                stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_die_with_parent)

    async def kill9(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async def wait_ready(self, names: tuple[str, ...] = SERVICES, timeout: float = 90) -> float:
        """Seconds until every named service's /readyz answers 200."""
        started = time.monotonic()
        waiting = set(names)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while waiting:
                for name in sorted(waiting):
                    proc = self.procs[name]
                    if proc.returncode is not None:
                        raise RuntimeError(f"{name} exited with code {proc.returncode} "
                                           f"(see {self.log_dir / (name + '.log')})")
                    try:
                        async with http.get(f"http://127.0.0.1:{self.port(name)}/readyz") as r:
                            if r.status == 200:
                                waiting.discard(name)
                    except (TimeoutError, aiohttp.ClientError):
                        pass
                if not waiting:
                    break
                if time.monotonic() - started > timeout:
                    raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(waiting)}")
                await asyncio.sleep(0.2)
        return time.monotonic() - started

    async def stop_all(self, grace: float = 8) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    def kill_all_sync(self) -> None:
        """Last resort on the cleanup path: nothing we started may outlive us."""
        for proc in self.procs.values():
            if proc.returncode is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass


async def _mail_link(mail_dir: Path, address: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.eml")):
            msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            body = msg.get_body(("plain",))
            if msg["To"] == address and body is not None:
                text = body.get_content()
                # The mail links the console page (token after #); the API route takes it.
                found = re.search(r"(http://[^/\s]+)/\S*confirm-email\S*?token=(\S+)", text)
                if found:
                    return f"{found.group(1)}/api/v1/auth/confirm-email?token={found.group(2)}"
        await asyncio.sleep(0.3)
    raise TimeoutError(f"no confirmation e-mail to {address} in {timeout:.0f}s")


async def _json(resp: aiohttp.ClientResponse, expect: int, what: str) -> dict:
    body = await resp.json(content_type=None)
    if resp.status != expect:
        raise RuntimeError(f"{what}: HTTP {resp.status} {str(body)[:300]}")
    return body


# The merchant's USD bank accounts, by the sandbox ZIMSWITCH rail's test data
# (docs/payouts.md): the default is paid at the callback; one ending 0001 fails
# ("Account closed"), one ending 0002 is paid and then returned by the bank.
ACCOUNTS = {"default": "620012345678", "closed": "620012340001",
            "returned": "620012340002"}
PAYOUT_FEE = 0.25  # USD, FLAT system PAYOUT charge: every payout posts a fee too


async def _money_out(http: aiohttp.ClientSession, gateway: str, auth: dict, root: dict,
                     merchant_id: int, delay_days: int) -> dict[str, str]:
    """Settlement accounts (only a signed-in user may add them: an API key may not
    move where money goes), a daily payout schedule, and a system PAYOUT fee.
    Returns the settlement account ids by role (ACCOUNTS)."""
    base = gateway + f"/api/v1/admin/merchants/{merchant_id}"
    ids: dict[str, str] = {}
    for role, number in ACCOUNTS.items():
        async with http.post(base + "/settlement-accounts", headers=auth, json={
                "type": "BANK", "currency": "USD", "bankName": "CBZ Bank",
                "branchCode": "6101", "accountName": f"Chaos Shop {role}",
                "accountNumber": number, "isDefault": role == "default"}) as resp:
            account = (await _json(resp, 201, f"{role} settlement account"))["data"]
        if account["isDefault"] != (role == "default"):
            raise RuntimeError(f"{role} settlement account: isDefault {account['isDefault']}")
        ids[role] = account["settlementAccountId"]
    async with http.put(base + "/payout-schedule", headers=auth, json={
            "interval": "daily", "delayDays": delay_days, "minimumAmount": "0"}) as resp:
        await _json(resp, 200, "payout schedule")
    async with http.post(gateway + "/api/v1/system/charges/add", headers=root, json={
            "chargeType": "FLAT", "chargeSource": "SYSTEM", "chargeCategory": "PAYOUT",
            "status": "ACTIVE", "currency": "USD", "value": PAYOUT_FEE,
            "statementNarration": "Chaos payout fee"}) as resp:
        await _json(resp, 201, "USD payout charge")
    return ids


async def onboard(gateway: str, mail_dir: Path, receiver_url: str, *,
                  delay_days: int = 1) -> dict:
    """Sign up, confirm by e-mail, sign in, create and activate a merchant (ENTERPRISE
    rate plan: the load is far above the STARTER budget); as SUPER add 1.5 % system
    transaction charges in USD and NOR (so payments carry fees and the ledger posts fee
    transactions); give the merchant its USD settlement accounts, a daily payout
    schedule (`delay_days` settlement days) and a PAYOUT fee; take an API key and
    register the webhook endpoint for every event."""
    email = "chaos.owner@example.com"
    async with aiohttp.ClientSession() as http:
        async with http.post(gateway + "/api/v1/auth/admin-sign-up", json={
                "firstName": "Kay", "lastName": "Oss", "email": email, "password": PASSWORD,
                "companyName": "Chaos Ltd"}) as resp:
            await _json(resp, 201, "admin sign-up")
        async with http.get(await _mail_link(mail_dir, email)) as resp:
            if resp.status >= 400:
                raise RuntimeError(f"confirm e-mail: HTTP {resp.status}")
        async with http.post(gateway + "/api/v1/auth/sign-in",
                             json={"email": email, "password": PASSWORD}) as resp:
            token = (await _json(resp, 200, "sign-in"))["token"]
        auth = {"Authorization": f"Bearer {token}"}
        async with http.post(gateway + "/api/v1/admin/create-merchant-account", headers=auth,
                             json={"merchantName": "Chaos Shop",
                                   "merchantEmail": "chaos.shop@example.com",
                                   "ratePlan": "ENTERPRISE"}) as resp:
            merchant = (await _json(resp, 201, "create merchant"))["data"]
        async with http.post(gateway + f"/api/v1/admin/merchants/{merchant['merchantId']}"
                             "/activate", headers=auth) as resp:
            await _json(resp, 200, "activate merchant")
        # System charges by the bootstrap SUPER (a merchant charge would name the
        # merchant through auth's /internal/merchants/resolve).
        async with http.post(gateway + "/api/v1/auth/sign-in", json={
                "email": SUPER_EMAIL, "password": SUPER_PASSWORD}) as resp:
            token = (await _json(resp, 200, "SUPER sign-in"))["token"]
        root = {"Authorization": f"Bearer {token}"}
        for currency in ("USD", "NOR"):
            async with http.post(gateway + "/api/v1/system/charges/add", headers=root, json={
                    "chargeType": "PERCENTAGE", "chargeSource": "SYSTEM",
                    "chargeCategory": "TRANSACTION", "status": "ACTIVE", "currency": currency,
                    "value": 1.5, "statementNarration": "Chaos transaction fee"}) as resp:
                await _json(resp, 201, f"{currency} charge")
        accounts = await _money_out(http, gateway, auth, root, merchant["merchantId"],
                                    delay_days)
        async with http.post(gateway + "/api/v1/api-keys", headers=auth,
                             json={"merchantId": merchant["merchantId"]}) as resp:
            key = (await _json(resp, 201, "API key"))["data"]["key"]
        async with http.post(gateway + "/api/v2/webhooks/endpoints",
                             headers={"X-API-Key": key},
                             json={"url": receiver_url, "events": ["*"],
                                   "description": "chaos receiver"}) as resp:
            endpoint = (await _json(resp, 201, "webhook endpoint"))["result"]
    return {"key": key, "merchant_id": merchant["merchantId"],
            "endpoint_id": endpoint["endpointId"], "secret": endpoint["secret"],
            "accounts": accounts}
