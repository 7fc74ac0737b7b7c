"""The gateway's OpenAPI document, as generators and linters read it.

The document is merged exactly as the gateway's /openapi.json merges it (each service's
route docs, services/gateway/docs.py), then checked with real tools: the
openapi-spec-validator (PyPI), Redocly's recommended rules and Spectral's `spectral:oas`
(npm, sdk/openapi): 0 errors from each. And what a client generator needs: a unique
operationId on every operation, the error answers it may get, a server, auth per route.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from deploy import openapi

pytestmark = pytest.mark.timeout(600)
ROOT = Path(__file__).resolve().parents[2]
LINT = ROOT / "sdk" / "openapi"
SDK = ROOT / "sdk" / "js"
METHODS = {"get", "post", "put", "patch", "delete"}


def _settings(settings):
    return settings.model_copy(update={"smtp_url": settings.smtp_url or "smtp://127.0.0.1:1"})


@pytest.fixture(scope="module")
def document(settings) -> dict:
    s = _settings(settings)
    return openapi.document(s, servers=[{"url": s.public_url}])


def _operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def test_the_document_is_valid_openapi_3_1(document):
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}"
              for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_every_operation_is_named_answers_its_errors_and_says_its_auth(document):
    ops = list(_operations(document))
    assert len(ops) > 100
    ids = [op["operationId"] for _, _, op in ops]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert all(i.isidentifier() for i in ids), [i for i in ids if not i.isidentifier()]
    for path, method, op in ops:
        codes = set(op["responses"])
        assert any(c.startswith("4") for c in codes), (method, path)
        assert "security" in op, (method, path)
        if op["security"]:  # an authenticated route: a wrong key is a documented 401
            assert "401" in codes, (method, path)
    assert document["servers"] and document["servers"][0]["url"]
    # NORAH's sign-in answers its tokens bare, not in the envelope.
    sign_in = document["paths"]["/api/v1/auth/sign-in"]["post"]
    schema = sign_in["responses"]["200"]["content"]["application/json"]["schema"]
    assert "statusCode" not in json.dumps(schema)


def _installed(where: Path, probe: str) -> Path:
    """`where`'s node_modules, installed from its lock file when it is not yet."""
    assert shutil.which("npm"), "Node.js and npm are needed"
    if not (where / "node_modules" / probe).exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=where, check=True,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    return where / "node_modules"


def _lint_tools() -> Path:
    return _installed(LINT, ".bin/redocly") / ".bin"


def test_the_sdk_types_are_generated_from_this_document(settings, tmp_path):
    """sdk/js/openapi.json is this code's document (`python -m deploy.openapi`), and
    sdk/js/src/openapi.ts is what openapi-typescript makes of it (`npm run generate`):
    a route or a request model changed without regenerating them fails here."""
    current = json.loads(json.dumps(openapi.document(_settings(settings))))
    committed = json.loads((SDK / "openapi.json").read_text())
    assert committed == current, "run: python -m deploy.openapi > sdk/js/openapi.json " \
        "&& (cd sdk/js && npm run generate)"
    modules = _installed(SDK, "openapi-typescript")
    out = tmp_path / "openapi.ts"
    subprocess.run(["node", str(modules / "openapi-typescript" / "bin" / "cli.js"),
                    "openapi.json", "--output", str(out), "--default-non-nullable", "false"],
                   cwd=SDK, check=True, capture_output=True, stdin=subprocess.DEVNULL,
                   timeout=300)
    assert out.read_text() == (SDK / "src" / "openapi.ts").read_text(), \
        "run: (cd sdk/js && npm run generate)"


def test_redocly_and_spectral_find_no_error(document, tmp_path):
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document))
    tools = _lint_tools()
    redocly = subprocess.run(
        [str(tools / "redocly"), "lint", str(spec), "--config", str(LINT / "redocly.yaml"),
         "--format", "summary"], cwd=LINT, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL)
    assert redocly.returncode == 0, redocly.stdout + redocly.stderr
    spectral = subprocess.run(
        [str(tools / "spectral"), "lint", str(spec), "--ruleset",
         str(LINT / ".spectral.yaml"), "--fail-severity", "error"], cwd=LINT,
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert spectral.returncode == 0, spectral.stdout + spectral.stderr
    assert "(0 errors" in spectral.stdout or "No results" in spectral.stdout, spectral.stdout


def test_every_json_success_has_its_schema(document):
    """No success answer is left untyped (`result: {}`): each JSON one names its model
    (shared/http/answers.py checks the handlers against it), the others their media."""
    untyped = []
    for path, method, op in _operations(document):
        for code, answer in op["responses"].items():
            if not code.startswith("2"):
                continue
            content = answer.get("content", {})
            assert content, (method, path, code)
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                continue  # a PDF, a file, a script: described by its media type
            inner = schema.get("properties", {})
            result = next((inner[k] for k in ("result", "data") if k in inner), schema)
            if not (result.get("$ref") or result.get("items") or result.get("type") == "null"):
                untyped.append(f"{method.upper()} {path}")
    assert untyped == []


# The generator, pinned: its output is what this test reads.
OPENAPI_PYTHON_CLIENT = "openapi-python-client==0.29.1"


async def test_a_generated_python_client_returns_typed_objects(settings, tmp_path):
    """openapi-python-client (in a venv of its own) generates a client from
    sdk/js/openapi.json; its calls against a running checkout answer its model classes,
    with the API's field values and types, and an error as NorPayError."""
    import sys
    import venv

    from tests.integration.test_payments import services
    from tests.support.auth import make_company_admin, make_merchant

    tools = tmp_path / "venv"
    venv.create(tools, with_pip=True)
    subprocess.run([str(tools / "bin" / "pip"), "install", "-q", OPENAPI_PYTHON_CLIENT],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=600)
    made = subprocess.run(
        [str(tools / "bin" / "openapi-python-client"), "generate", "--path",
         str(SDK / "openapi.json"), "--output-path", str(tmp_path / "norgate_client"),
         "--meta", "none"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr
    # The generator warns only of the answers it cannot model: the PDFs and the script.
    warned = [line for line in made.stdout.splitlines() if line.startswith("WARNING")]
    assert all(w.endswith((".pdf within receipts.", "/pdf within billing.",
                           "checkout.js within checkout_widget.")) or "download" in w
               for w in warned), warned
    sys.path.insert(0, str(tmp_path))
    try:
        from norgate_client import Client
        from norgate_client.api.payments import get_payments_by_payment_id, post_payments_create
        from norgate_client.models import CreatePayment, NorPayError, Payment

        async with services(settings) as checkout:
            admin = await make_company_admin(settings)
            merchant = await make_merchant(settings, admin, status="ACTIVE")
            client = Client(base_url=f"http://127.0.0.1:{checkout.server.port}",
                            headers=merchant.headers(settings))
            async with client as c:
                created = await post_payments_create.asyncio(client=c, body=CreatePayment(
                    amount="1000000000000000000", currency="NOR",
                    description="Product purchase"))
                assert isinstance(created.result, Payment), created
                got = await get_payments_by_payment_id.asyncio(created.result.payment_id,
                                                               client=c)
                assert isinstance(got.result, Payment), got
                assert (got.result.payment_id, got.result.amount, got.result.currency,
                        got.result.status, got.result.livemode) == (
                    created.result.payment_id, "1000000000000000000", "NOR", "pending",
                    False)
                missing = await get_payments_by_payment_id.asyncio("pay_nosuchpayment",
                                                                   client=c)
                assert isinstance(missing, NorPayError), missing
                assert missing.status == "0" and missing.message
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "norgate_client"]:
            del sys.modules[name]
