"""Schemathesis against the gateway's own /openapi.json, on a running `make run` stack.

Every documented operation is called with generated valid and invalid input,
authenticated: the merchant's API key for the merchant families (NorPay `/api/v2`,
Prices, the widget) and the company admin's JWT for NORAH (`/api/v1`). The run fails on
any 5xx, on a status code the document does not declare, and on a response body that
does not match the schema declared for its status (success envelope or error envelope).

The CLI runs in a subprocess (its own process and HTTP client, so nothing fights the
test's event loop) with a fixed seed and a bounded number of examples per operation.
Widen it locally with NORGATE_FUZZ_EXAMPLES=100 NORGATE_FUZZ_SEED=<n>.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

EXAMPLES = int(os.environ.get("NORGATE_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("NORGATE_FUZZ_SEED", "20251121")
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
# Operations that would end the fuzzer's own session rather than test anything.
NEVER = r"^/api/v1/auth/sign-out$"


async def _schemathesis(tmp_path: Path, schema_url: str, header: str,
                        *filters: str) -> tuple[int, str]:
    cli = Path(sys.executable).with_name("schemathesis")
    args = [
        str(cli), "run", schema_url,
        "--header", header,
        "--checks", CHECKS,
        "--phases", "examples,fuzzing",
        "--max-examples", str(EXAMPLES),
        "--seed", SEED,
        "--generation-database", "none",
        "--no-shrink",
        "--workers", "1",  # hypothesis is not thread-safe enough for more
        "--request-timeout", "15",
        "--exclude-path-regex", NEVER,
        "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml"),
        "--no-color",
        *filters,
    ]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"})
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 300)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(errors="replace")


def _verdict(code: int, output: str) -> int:
    """How many operations were tested; fails on any failure or error."""
    selected = re.search(r"Selected: (\d+)/\d+", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected and tested, output[-4000:]
    # Exit code 0: no failure and no error (a schema that cannot be read is an error).
    assert code == 0, output[-12000:]
    assert int(tested.group(1)) == int(selected.group(1)), output[-4000:]
    return int(tested.group(1))


async def test_merchant_api_families_survive_schemathesis(stack, tenant, tmp_path):
    """NorPay payments, webhooks, Prices and the widget, with the merchant's API key."""
    code, output = await _schemathesis(
        tmp_path, stack.gateway + "/openapi.json", f"X-API-Key: {tenant.api_key}",
        "--exclude-path-regex", r"^/api/v1/")
    assert _verdict(code, output) >= 20  # payments, webhooks, prices, widget, pages


async def test_norah_family_survives_schemathesis(stack, tenant, tmp_path):
    """NORAH (`/api/v1`: auth, users, merchants, apps, keys, charges, transactions),
    with the company admin's token."""
    code, output = await _schemathesis(
        tmp_path, stack.gateway + "/openapi.json",
        f"Authorization: Bearer {tenant.admin_token}",
        "--include-path-regex", r"^/api/v1/")
    assert _verdict(code, output) >= 40  # every NORAH route the seed lists
