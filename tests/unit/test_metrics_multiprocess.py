"""shared/metrics.py's multiprocess switch, in a process of its own (it changes the
Prometheus client's value class for the rest of the process): after it, counters
incremented in forked workers add up in one /metrics text, labelled or not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import os
import services.notifier.email.events as events  # an unlabelled counter, made at import
from shared import metrics

directory = metrics.use_multiprocess()
pid = os.fork()
metrics.observe_request("fees", "GET", "/readyz", 200, 0.001)
events.SUPPRESSED.inc()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
body, _ = metrics.render()
metrics.remove_multiprocess(directory)
print(body.decode())
print("left:", os.path.exists(directory))
"""


def test_forked_workers_counts_add_up(tmp_path: Path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert ('norgate_http_requests_total{method="GET",route="/readyz",service="fees",'
            'status="200"} 2.0') in lines
    assert "norgate_emails_suppressed_total 2.0" in lines
    assert "left: False" in lines
