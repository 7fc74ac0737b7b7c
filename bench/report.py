"""The table, the targets of issues 9 and 20 and the Markdown summary of a bench run."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

CREATE_RPS, CREATE_P99, FLOOR_SHARE = 1_000, 50.0, 0.5
WEBHOOK_P99, LEDGER_P99, RSS_MB = 250.0, 1_000.0, 150.0
BALANCE_P99, PAYOUTS_S, IMPORT_S = 20.0, 60.0, 30.0  # issue 20, money out


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    python = f"{platform.python_version()} ({os.path.realpath(sys.executable)})"
    return {"cpus": os.cpu_count(), "cpu": model, "python": python,
            "load_before": os.getloadavg()}


def _get(results: dict, *path, default=None):
    node: object = results
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def targets(results: dict) -> list[dict]:
    out = []
    create = _get(results, "norgate", "create_c32") or {}
    floor = _get(results, "floors", "aiohttp_asyncpg", "requests_per_s")
    out.append({"target": f"create >= {CREATE_RPS:,} req/s at 32 connections",
                "value": create.get("requests_per_s"),
                "met": (create.get("requests_per_s") or 0) >= CREATE_RPS
                and create.get("non_2xx") == 0})
    out.append({"target": f"create p99 <= {CREATE_P99:g} ms at 32 connections",
                "value": create.get("p99_ms"),
                "met": create.get("p99_ms") is not None and create["p99_ms"] <= CREATE_P99})
    share = round(create["requests_per_s"] / floor, 3) if floor and create else None
    out.append({"target": f"create >= {FLOOR_SHARE:.0%} of the aiohttp + asyncpg floor",
                "value": share, "met": share is not None and share >= FLOOR_SHARE})
    paced = _get(results, "norgate", "paced") or {}
    webhook = paced.get("webhook", {})
    out.append({"target": f"event-to-webhook p99 <= {WEBHOOK_P99:g} ms at 300 payments/s "
                          f"(measured at {paced.get('payments_per_s')}/s)",
                "value": webhook.get("p99_ms"),
                "met": webhook.get("p99_ms") is not None and webhook["p99_ms"] <= WEBHOOK_P99
                and not webhook.get("missing")})
    lag = paced.get("ledger_lag", {})
    out.append({"target": f"ledger lag p99 <= {LEDGER_P99:g} ms", "value": lag.get("p99_ms"),
                "met": lag.get("p99_ms") is not None and lag["p99_ms"] <= LEDGER_P99})
    out += money_out_targets(results)
    for name, mem in (results.get("memory") or {}).items():
        out.append({"target": f"{name} peak RSS < {RSS_MB:g} MB per process",
                    "value": mem["peak_mb_max"], "met": mem["peak_mb_max"] < RSS_MB})
    return out


def money_out_targets(results: dict) -> list[dict]:
    """Issue 20's: only for the phases that ran."""
    m = results.get("money_out") or {}
    out = []
    balance = m.get("balance")
    if balance:
        load = balance["gateway"]
        out.append({"target": f"balance p99 < {BALANCE_P99:g} ms, {balance['entries']:,} ledger "
                              f"entries (gateway, {load['connections']} connections, "
                              f"{load['requests_per_s']:g}/s)",
                    "value": load["p99_ms"],
                    "met": load["p99_ms"] < BALANCE_P99 and load["non_2xx"] == 0
                    and not load["socket_errors"] and balance["answer_matches_entries"]
                    and balance["books"]["even"]})
    payouts = m.get("payouts")
    if payouts:
        out.append({"target": f"the scheduler making the daily payouts of "
                              f"{payouts['merchants']:,} merchants < {PAYOUTS_S:g} s "
                              f"({payouts['new_automatic_payouts']:,} made, books "
                              f"{'even' if payouts['books']['even'] else 'NOT even'}; the "
                              f"same tick then sent them to the rail: "
                              f"{_s(payouts.get('tick_s'))} s in all)",
                    "value": payouts.get("created_s"), "met": payouts["met"]})
    imported = m.get("import")
    if imported:
        out.append({"target": f"import of a {imported.get('lines') or 0:,}-line settlement "
                              f"file < {IMPORT_S:g} s"
                              + (f" (failed: {imported['error']})" if "error" in imported
                                 else ""),
                    "value": imported.get("import_s"),
                    "met": bool(imported.get("met")) and "error" not in imported})
    return out


def _row(name: str, r: dict | None, unit: str = "req/s") -> str:
    if not r:
        return f"| {name} | – | | | | | |"
    if "skipped" in r:
        return f"| {name} | {r['skipped']} | | | | | |"
    errors = (r.get("non_2xx") or 0) + (r.get("socket_errors") or 0)
    p50 = r.get("p50_ms", r.get("latency_avg_ms"))
    cpu = (r.get("cpu_ms_per_request") or {}).get("total")
    return (f"| {name} | {r['requests_per_s']:,.0f} {unit} | {_ms(p50)} | {_ms(r.get('p99_ms'))}"
            f" | {errors} | {r.get('connections', '')} | {'' if cpu is None else cpu} |")


def _ms(value) -> str:
    return "" if value is None else f"{value:,.1f}"


def table(results: dict) -> str:
    f = results.get("floors", {})
    n = results.get("norgate", {})
    lines = ["| measurement | throughput | p50 ms | p99 ms | errors | connections "
             "| CPU ms/req |", "|---|---:|---:|---:|---:|---:|---:|",
             _row("floor: bare aiohttp", f.get("bare_aiohttp")),
             _row("floor: aiohttp + asyncpg (create's inserts)", f.get("aiohttp_asyncpg")),
             _row("floor: pgbench, same transaction (p50 = avg)", f.get("pgbench"), "TPS"),
             _row("norgate: payment create", n.get("create_c32")),
             _row("norgate: payment create", n.get("create_c128")),
             _row("norgate: payment get", n.get("get_c32")),
             _row("norgate: confirm, sandbox card", n.get("confirm_c32")),
             _row("norgate: fee quote (gateway, test-charge-calculation)",
                  n.get("fee_quote_c32")),
             _row("fees alone: POST /internal/quotes", results.get("fee_quote_internal"))]
    for key in ("paced", "paced_sustained"):
        paced = n.get(key) or {}
        if not paced:
            continue
        w, lag = paced.get("webhook", {}), paced.get("ledger_lag", {})
        rate = (f"{paced['payments_per_s']:g} payments/s (asked "
                f"{paced['target_payments_per_s']:g})")
        lines.append(f"| event-to-webhook latency at {rate}, {w.get('count', 0)} events, "
                     f"{w.get('missing', 0)} missing | | {_ms(w.get('p50_ms'))} | "
                     f"{_ms(w.get('p99_ms'))} | | | |")
        lines.append(f"| ledger lag, completion to posting, at {rate} | | "
                     f"{_ms(lag.get('p50_ms'))} | {_ms(lag.get('p99_ms'))} | | | |")
    lines += money_out_rows(results)
    share = next((t["value"] for t in results.get("targets", [])
                  if "floor" in t["target"]), None)
    lines.append(f"| ratio: create / aiohttp + asyncpg floor | {share} | | | | | |")
    for key, name in (("create_c32", "create"), ("confirm_c32", "confirm")):
        phase = n.get(key) or {}
        cpu = phase.get("cpu_ms_per_request")
        if cpu:
            lines.append(f"| {name}: CPU ms per request by service (until events handled) | "
                         + ", ".join(f"{k} {v:g}" for k, v in cpu.items()) + " | | | | | |")
        infra = phase.get("infra_cpu_ms_per_request")
        if infra:
            lines.append(f"| {name}: CPU ms per request of PostgreSQL, RabbitMQ and the whole "
                         "machine (wrk included) | " + ", ".join(
                             f"{k} {v:g}" for k, v in infra.items()) + " | | | | | |")
    mem = results.get("memory") or {}
    lines.append("| peak RSS per process, MB | " + ", ".join(
        f"{k} {v['peak_mb_max']:g}" + (f" (x{v['processes']})" if v["processes"] > 1 else "")
        for k, v in mem.items()) + " | | | | | |")
    lines += ["", "| target | value | met |", "|---|---:|:---:|"]
    lines += [f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'NO'} |"
              for t in results.get("targets", [])]
    return "\n".join(lines)


def money_out_rows(results: dict) -> list[str]:
    m = results.get("money_out") or {}
    out = []
    balance = m.get("balance")
    if balance:
        out.append(_row(f"money out: balance, {balance['entries']:,} ledger entries "
                        f"(gateway, API key, paced)", balance["gateway"]))
        out.append(_row("money out: balance on billing alone (signed principal)",
                        balance["billing_alone"]))
    payouts = m.get("payouts")
    if payouts:
        created = payouts.get("created_s")
        out.append(f"| money out: payouts tick, {payouts['merchants']:,} daily payouts "
                   f"(made in {_s(created)} s, all paid {_s(payouts.get('settled_s'))} s "
                   f"after the call) | {payouts['payouts_per_s'] or 0:,.0f} payouts/s, "
                   f"{payouts['tick_s']:,.1f} s | | | "
                   f"{payouts['merchants'] - payouts['new_automatic_payouts']} | | |")
    imported = m.get("import")
    if imported:
        if "error" in imported:
            out.append("| money out: settlement file import | failed | | | | | |")
        else:
            rate = imported["lines"] / imported["import_s"] if imported["import_s"] else 0
            out.append(f"| money out: import of a {imported['lines']:,}-line settlement "
                       f"file, {imported.get('matched', 0):,} matched | {rate:,.0f} lines/s, "
                       f"{imported['import_s']:,.1f} s | | | "
                       f"{imported.get('exceptions', 0)} | | |")
            before = (m.get("peak_rss_mb_before") or {}).get("billing")
            after = (imported.get("peak_rss_mb_after") or {}).get("billing")
            helper = (imported.get("helper_peak_rss_mb_after") or {}).get("billing")
            if after is not None:
                out.append(f"| money out: billing peak RSS through the import, MB | service "
                           f"{before} -> {after}; matching process {helper or '-'} (ends "
                           "with the import) | | | | | |")
    return out


def _s(value) -> str:
    return "–" if value is None else f"{value:,.1f}"


def money_out_table(results: dict) -> str:
    """The money-out rows and their targets alone (a BENCH_ONLY run of those phases)."""
    lines = ["| measurement | throughput | p50 ms | p99 ms | errors | connections "
             "| CPU ms/req |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += money_out_rows(results)
    lines += ["", "| target | value | met |", "|---|---:|:---:|"]
    lines += [f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'NO'} |"
              for t in money_out_targets(results)]
    return "\n".join(lines)


def markdown(results: dict, table_text: str) -> str:
    m = results["machine"]
    s = results["settings"]
    return f"""# norgate benchmarks: last run

`make bench` (`python -m bench.run`), started {results['started_at']}, on {m['cpus']} CPUs
({m['cpu'] or 'unknown CPU'}), Python {m['python']}, load average before the run
{', '.join(f'{x:.2f}' for x in m['load_before'])}. Stack: NORGATE_ENV={s['env']}, logging at
{s['log_level']}, processes per service {s['workers'] or 'one each'} (others 1),
{s['merchants']} merchants with an API key each, {s['duration_s']:g} s per phase; PostgreSQL
reached over {s.get('postgres', 'TCP')} (the floors too).
How each figure is measured: docs/benchmarks.md.

{table_text}
"""
