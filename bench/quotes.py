"""Fee quotes per second through the fees service's internal endpoint.

Starts the fees service alone (its own database `norgate_bench`, production-like
settings, logging at info), loads 50 charge rules, warms up, then drives
`POST /internal/quotes` with wrk (installed from Debian's packages when missing
and root) or, without wrk, an aiohttp load generator in this process, which
competes for the same two cores and so reads low. Prints a table and writes
bench/results/quotes.json. Target (issue 4): 5,000 quotes/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg
from pydantic import SecretStr

from bench.wrk import ensure_wrk, lua_value
from bench.wrk import run as wrk_run
from deploy.provision import drop, provision
from shared.principal import HEADER, Principal, sign
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DURATION, CONNECTIONS, TARGET = 10, 64, 5_000
BODY = {"merchantId": 3, "currency": "USD", "amount": "123456"}


def _settings() -> Settings:
    base = os.environ.get("NORGATE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/norgate")
    return Settings(database_url=base.rsplit("/", 1)[0] + "/norgate_bench",
                    events_namespace="bench", env="test", fees_port=18084, log_level="info",
                    secret_key=SecretStr(secrets.token_hex(32)))  # no built-in key exists


async def _seed(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.dsn_of("fees"))
    try:
        await conn.execute("DELETE FROM charges")
        for i in range(50):
            await conn.execute(
                """INSERT INTO charges (scope, merchant_id, charge_type, charge_source,
                       charge_category, status, currency, value, min_threshold)
                   VALUES ($1, $2, $3, 'SYSTEM', 'TRANSACTION', 'ACTIVE', $4, $5, $6)""",
                "MERCHANT" if i % 2 else "SYSTEM", i % 10 if i % 2 else None,
                "PERCENTAGE" if i % 3 else "FLAT", ["USD", "EUR", "ZWG", "NOR"][i % 4],
                f"{(i % 7) + 0.5}", i * 10)
    finally:
        await conn.close()


def _wrk(url: str, token: str) -> dict:
    script = (f'wrk.method = "POST"\nwrk.body = {lua_value(json.dumps(BODY))}\n'
              f'wrk.headers["Content-Type"] = "application/json"\n'
              f'wrk.headers[{lua_value(HEADER)}] = {lua_value(token)}\n')
    return wrk_run(url, script, connections=CONNECTIONS, duration=DURATION)


async def _python_load(url: str, token: str) -> dict:
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + DURATION
    async with aiohttp.ClientSession(headers={HEADER: token}) as http:
        async def worker():
            nonlocal failures
            while time.monotonic() < deadline:
                start = time.perf_counter()
                async with http.post(url, json=BODY) as resp:
                    await resp.read()
                    failures += resp.status != 200
                latencies.append(time.perf_counter() - start)
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    latencies.sort()
    return {"generator": "python (same cores)", "requests_per_s": len(latencies) / DURATION,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000, "non_2xx": failures}


async def _wait_ready(port: int, proc: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit(f"fees exited with {proc.returncode}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("fees not ready in 60 s")


async def measure() -> dict:
    """Start fees alone, drive it, stop it; the figures (also in results/quotes.json)."""
    settings = _settings()
    await provision(settings)
    env = {**os.environ, "NORGATE_DATABASE_URL": settings.database_url,
           "NORGATE_EVENTS_NAMESPACE": "bench", "NORGATE_ENV": "test",
           "NORGATE_SECRET_KEY": settings.secret_key.get_secret_value(),  # type: ignore[union-attr]
           "NORGATE_FEES_PORT": str(settings.fees_port),
           "NORGATE_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "info"),
           "NORGATE_WORKERS": os.environ.get("BENCH_FEES_WORKERS", "2")}
    proc = subprocess.Popen([sys.executable, "-m", "services.fees"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await _wait_ready(settings.fees_port, proc)
        await _seed(settings)
        proc.send_signal(15)
        proc.wait(30)
        proc = subprocess.Popen([sys.executable, "-m", "services.fees"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await _wait_ready(settings.fees_port, proc)  # restarted: rules loaded into the cache
        token = sign(Principal(kind="service", subject="bench"), settings, audience="fees",
                     ttl=3600)
        url = f"http://127.0.0.1:{settings.fees_port}/internal/quotes"
        wrk = ensure_wrk()
        await _python_load(url, token) if wrk is None else None  # warm-up
        result = _wrk(url, token) if wrk else await _python_load(url, token)
    finally:
        proc.send_signal(15)
        proc.wait(30)
        await drop(settings)
    result.update(benchmark="fee quotes, POST /internal/quotes", connections=CONNECTIONS,
                  duration_s=DURATION, rules=50, target_per_s=TARGET,
                  meets_target=result["requests_per_s"] >= TARGET and result["non_2xx"] == 0)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quotes.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


async def main() -> int:
    result = await measure()
    print(f"\n{'benchmark':<34}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}  target")
    print(f"{result['benchmark']:<34}{result['requests_per_s']:>10.0f}{result['p50_ms']:>9.2f}"
          f"{result['p99_ms']:>9.2f}{result['non_2xx']:>9}  >= {TARGET}/s "
          f"{'met' if result['meets_target'] else 'NOT met'} ({result['generator']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
