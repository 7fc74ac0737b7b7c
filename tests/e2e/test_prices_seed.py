"""The Prices seed's own request examples (cURL, Node fetch, Python requests), run as
written against a `make run` stack's gateway: only the host, the app id, the API key,
the trigger id and the price id are filled in."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiohttp
import pytest

from tests.e2e.conftest import wait_stack_ready
from tests.support.onboarding import onboard

pytestmark = pytest.mark.e2e

SEED_PRICE_ITEM = {
    "currency": "usd", "provider_processing_fee_percent": 2.9, "provider_min_amount_fee": 0.25,
    "app_fee": 0, "app_type": "individual", "platform_fee": 3.9, "amount": 50,
    "amount_total": 51.75, "amount_platform": 1.95, "amount_seller": 0, "amount_app": 48.05,
    "amount_transaction_fee": 0}
SEED_FIELDS = ["id", "amount", "currency", "currency_conversion", "type", "kyc_id",
               "metadata", "deleted", "expired", "name", "trigger_id", "trigger_intent_id",
               "trigger_params_data_input", "price_item", "app", "created_at", "updated_at",
               "views", "livemode"]  # livemode: additive (docs/modes.md)


@pytest.fixture(scope="module")
async def seller(stack):
    """A merchant's API key, a company app (as in the seed) and a trigger."""
    await wait_stack_ready(stack)
    merchant = await onboard(stack, "prices", name="Ticket Shop")
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.gateway + "/api/v1/apps", headers=merchant.admin_headers,
                             json={"name": "App Name", "type": "individual", "app_fee": 0,
                                   "kyc_return_url": "https://myapp.com/settings/kyc"}) as resp:
            assert resp.status == 201, await resp.text()
            app = (await resp.json())["data"]
        async with http.post(stack.gateway + f"/triggers/{app['id']}",
                             headers={"Authorization": f"Bearer {merchant.key}"},
                             json={"name": "Mint ticket",
                                   "url": "https://merchant.example/hooks"}) as resp:
            assert resp.status == 201, await resp.text()
            trigger = (await resp.json())["data"]
    return {"key": merchant.key, "app": app["id"], "trigger": trigger["id"],
            "base": stack.gateway}


def _fill(text: str, seller: dict, price_id: str = "") -> str:
    return (text.replace("https://api.noramp.io", seller["base"])
            .replace("{app_id}", seller["app"]).replace("{API_KEY}", seller["key"])
            .replace("API_KEY:", seller["key"] + ":")
            .replace("{trigger_id}", seller["trigger"]).replace("{price_id}", price_id))


async def _run(*argv: str, stdin: str | None = None) -> str:
    def run() -> str:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout
    return await asyncio.to_thread(run)


CURL_CREATE = """curl -sS -X POST https://api.noramp.io/prices/{app_id} \\
-u API_KEY: \\
-H 'Content-Type: application/json' \\
-d '{"currency":"usd","trigger_id":"{trigger_id}","amount":50}'"""

NODE_CREATE = """const data = {
"currency": "usd",
"trigger_id": "{trigger_id}",
"amount": 50
};

const response = await fetch('https://api.noramp.io/prices/{app_id}', {
method: "POST",
headers: {
'content-type': 'application/json',
'authorization': 'Bearer {API_KEY}',
},
body: JSON.stringify(data)
})

console.log(JSON.stringify(await response.json()));
"""

PYTHON_CREATE = """import requests
import json

url = "https://api.noramp.io/prices/{app_id}"

headers = {
'Content-Type': 'application/json',
'Authorization': 'Bearer {API_KEY}',
}

payload = json.dumps({
"currency": "usd",
"trigger_id": "{trigger_id}",
"amount": 50
})

response = requests.request("POST", url, headers=headers, data=payload)

print(response.text)
"""


def _assert_seed_price(body: dict, seller: dict) -> dict:
    assert list(body) == ["data"]
    price = body["data"]
    assert list(price) == SEED_FIELDS
    assert (price["amount"], price["currency"], price["type"], price["trigger_id"]) == \
        (50, "usd", "dynamic", seller["trigger"])
    assert price["trigger_intent_id"].startswith("ti_")
    assert price["price_item"] == SEED_PRICE_ITEM
    assert price["app"]["id"] == seller["app"] and price["app"]["name"] == "App Name"
    return price


async def test_the_seeds_create_examples(seller, tmp_path):
    curl = json.loads(await _run("bash", "-c", _fill(CURL_CREATE, seller)))
    script = tmp_path / "create.mjs"
    script.write_text(_fill(NODE_CREATE, seller))
    node = json.loads(await _run("node", str(script)))
    python = json.loads(await _run(sys.executable, "-", stdin=_fill(PYTHON_CREATE, seller)))
    ids = {_assert_seed_price(body, seller)["id"] for body in (curl, node, python)}
    assert len(ids) == 3


async def test_the_seeds_get_and_delete_examples(seller, tmp_path):
    created = json.loads(await _run("bash", "-c", _fill(CURL_CREATE, seller)))["data"]
    price_id = created["id"]
    curl_get = """curl -sS -X GET https://api.noramp.io/prices/{app_id}/{price_id} \\
-u API_KEY: \\
-H 'Content-Type: application/json'"""
    got = json.loads(await _run("bash", "-c", _fill(curl_get, seller, price_id)))
    assert _assert_seed_price(got, seller)["id"] == price_id
    node_get = """const response = await fetch('https://api.noramp.io/prices/{app_id}/{price_id}', {
method: "GET",
headers: {
'content-type': 'application/json',
'authorization': 'Bearer {API_KEY}',
},
})

console.log(JSON.stringify(await response.json()));
"""
    script = tmp_path / "get.mjs"
    script.write_text(_fill(node_get, seller, price_id))
    assert json.loads(await _run("node", str(script)))["data"]["id"] == price_id
    # The seed's Python DELETE example uses `payload` without defining it; an empty body.
    python_delete = """import requests
import json

url = "https://api.noramp.io/prices/{app_id}/{price_id}"

headers = {
'Content-Type': 'application/json',
'Authorization': 'Bearer {API_KEY}',
}
payload = ""

response = requests.request("DELETE", url, headers=headers, data=payload)

print(response.text)
"""
    deleted = json.loads(await _run(sys.executable, "-",
                                    stdin=_fill(python_delete, seller, price_id)))
    assert deleted["data"]["id"] == price_id and deleted["data"]["deleted"] is True
    curl_list = "curl -sS https://api.noramp.io/prices/{app_id} -u API_KEY:"
    listed = json.loads(await _run("bash", "-c", _fill(curl_list, seller)))
    assert price_id not in [p["id"] for p in listed["data"]]
    assert set(listed["pagination"]) == {"page", "per_page", "total"}
