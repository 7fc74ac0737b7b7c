"""/metrics counts every worker's requests when a service runs several processes
(NORGATE_WORKERS), not only those of the worker that happens to answer the scrape."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import REPO
from tests.support.net import free_port
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e

HITS = 30


async def _get(base: str, path: str) -> tuple[int, str]:
    # A connection per request: SO_REUSEPORT spreads connections, not requests.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        async with http.get(base + path) as resp:
            return resp.status, await resp.text()


def _readyz_count(text: str) -> float:
    return sum(sample.value
               for family in text_string_to_metric_families(text)
               if family.name == "norgate_http_requests"
               for sample in family.samples
               if sample.name == "norgate_http_requests_total"
               and sample.labels.get("route") == "/readyz"
               and sample.labels.get("status") == "200")


async def test_metrics_sum_the_requests_of_every_worker(settings, tmp_path: Path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NORGATE_FEES_PORT": str(port), "NORGATE_WORKERS": "2",
           # The samples' directory is made under TMPDIR (the pods' /tmp): here, ours.
           "TMPDIR": str(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.fees", cwd=REPO, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async def ready() -> bool:
            try:
                return (await _get(base, "/readyz"))[0] == 200
            except aiohttp.ClientError:
                return False

        await poll_until(ready, timeout=60, interval=0.2, what="fees ready")
        answered = 1  # the poll's 200
        # Until both processes have answered (each writes its own samples file).
        def files() -> list[Path]:
            return sorted(tmp_path.glob("norgate-metrics-*/counter_*.db"))

        async def both_answered() -> bool:
            nonlocal answered
            if (await _get(base, "/readyz"))[0] == 200:
                answered += 1
            return len(files()) >= 2

        await poll_until(both_answered, timeout=30, interval=0.05, what="both workers")
        assert len({f.name for f in files()}) == 2  # two processes, one file each
        for _ in range(HITS):
            status, _ = await _get(base, "/readyz")
            assert status == 200
            answered += 1
        # Whichever worker serves the scrape, it reports all of them; ask a few times.
        for _ in range(4):
            status, text = await _get(base, "/metrics")
            assert status == 200
            assert _readyz_count(text) == answered
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        # The first process removes the samples when its workers are gone.
        assert not list(tmp_path.glob("norgate-metrics-*"))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
