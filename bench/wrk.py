"""wrk as the load generator: run a Lua script, parse its report.

Every script gets a small prelude: a per-thread id (so Idempotency-Keys and the
slice of a work list are unique per thread) and the data tables the benchmark
passes in (API keys, payment ids). `done()` prints one machine-readable line
with the latency percentiles from wrk's own histogram (microseconds), which is
more exact than the rounded `--latency` table.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile

_PRELUDE = """
local thread_counter = 0
function setup(thread)
  thread:set("tid", thread_counter)
  thread_counter = thread_counter + 1
end
"""

_DONE = """
function done(summary, latency, requests)
  io.write(string.format("BENCH_JSON {\\"p50_us\\": %d, \\"p99_us\\": %d, "
    .. "\\"max_us\\": %d, \\"requests\\": %d}\\n",
    latency:percentile(50), latency:percentile(99), latency.max, summary.requests))
end
"""


def ensure_wrk() -> str | None:
    """wrk on PATH, installed from Debian's packages when missing and root."""
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env,
                       capture_output=True, check=False)
    return shutil.which("wrk")


def lua_value(value) -> str:
    """A Python list/dict/str/int as a Lua literal (strings JSON-quoted: same escapes)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_value(k)}] = {lua_value(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "{" + ", ".join(lua_value(v) for v in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def _rows_loader(name: str, path: str) -> str:
    """Lua that reads "<int> <word>" lines into {{int, word}, ...}: long lists go through
    a file, as a literal that large overflows LuaJIT's constant table."""
    return (f"{name} = {{}}\nfor line in io.lines({json.dumps(path)}) do\n"
            f"  local a, b = line:match(\"^(%d+) (%S+)$\")\n"
            f"  {name}[#{name} + 1] = {{tonumber(a), b}}\nend\n")


def run(url: str, script: str, *, connections: int, duration: float, threads: int = 2,
        data: dict | None = None, rows: dict[str, list[tuple[int, str]]] | None = None,
        timeout_s: int = 10) -> dict:
    """Run wrk; returns requests_per_s, p50_ms, p99_ms, max_ms, requests, non_2xx, errors.
    `data` becomes Lua globals; `rows` lists of (int, word) pairs, loaded from files."""
    wrk = ensure_wrk()
    if wrk is None:
        raise SystemExit("bench: wrk is not installed (apt-get install wrk)")
    threads = max(1, min(threads, connections))
    data = {"THREADS": threads, **(data or {})}
    lua = "".join(f"{name} = {lua_value(value)}\n" for name, value in data.items())
    temp: list[str] = []
    for name, items in (rows or {}).items():
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as rf:
            rf.write("".join(f"{a} {b}\n" for a, b in items))
        temp.append(rf.name)
        lua += _rows_loader(name, rf.name)
    lua += _PRELUDE + script + _DONE
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    temp.append(f.name)
    try:
        proc = subprocess.run(
            [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
             f"--timeout={timeout_s}s", "-s", f.name, url],
            capture_output=True, text=True, check=False)
    finally:
        for path in temp:
            os.unlink(path)
    out = proc.stdout
    if proc.returncode != 0 or "BENCH_JSON" not in out:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out}\n{proc.stderr}")
    figures = json.loads(out.split("BENCH_JSON", 1)[1].strip().splitlines()[0])
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk printed no Requests/sec: {out}")
    rps = float(found.group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    return {"generator": "wrk", "connections": connections, "duration_s": duration,
            "requests_per_s": round(rps, 1), "requests": figures["requests"],
            "p50_ms": round(figures["p50_us"] / 1000, 2),
            "p99_ms": round(figures["p99_us"] / 1000, 2),
            "max_ms": round(figures["max_us"] / 1000, 2),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}
