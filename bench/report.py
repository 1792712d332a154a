"""Markdown tables from a results dict, the issue's targets judged, and README refreshing."""

from __future__ import annotations

import re

from measure import summary

START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"


def _mb(s: dict, *keys: str) -> str:
    """Sizes in MB joined by ' / '; '?' for runs saved before these were recorded."""
    if not all(k in s for k in keys):
        return "?"
    return " / ".join(f"{s[k] / 1e6:.1f}" for k in keys)


def summarise(runs: list[dict], keys: list[str]) -> dict:
    return {k: summary([r[k] for r in runs]) for k in keys if runs and runs[0].get(k) is not None}


def _fig(s: dict | None, digits: int = 0) -> str:
    if not s:
        return "-"
    f = f"{{:,.{digits}f}}"
    if s["n"] == 1:
        return f.format(s["median"])
    return f"{f.format(s['median'])} ({f.format(s['min'])}–{f.format(s['max'])})"


def _med(rows: list[dict], key: str = "tasks_per_s", **match) -> float | None:
    found = [r["summary"][key]["median"] for r in rows
             if all(r.get(k) == v for k, v in match.items()) and key in r["summary"]]
    return max(found) if found else None


def _table(rows: list[dict] | None, title: str, heads: list[str], fields: list[str],
           side: str) -> list[str]:
    """A drain or enqueue table: the row's fields, then tasks/s and CPU per task."""
    if not rows:
        return []
    out = [f"### {title} (tasks/s; CPU µs per task)", "", "| " + " | ".join(heads) + " |",
           "|" + "---|" * len(heads)]
    for r in rows:
        cells = [f"{r[f]:,}" if isinstance(r.get(f), int) else str(r.get(f, "-")) for f in fields]
        cells += [_fig(r["summary"].get(k)) for k in ("tasks_per_s", side,
                                                      "postgres_us_per_task")]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def tables(res: dict) -> str:
    out = []
    out += _table(res.get("drain"), "Drain", ["system", "configuration", "processes", "tasks",
                  "tasks/s", "worker CPU µs/task", "Postgres CPU µs/task"],
                  ["system", "label", "processes", "tasks"], "worker_us_per_task")
    out += _table(res.get("enqueue"), "Enqueue", ["method", "mode", "tasks", "tasks/s",
                  "client CPU µs/task", "Postgres CPU µs/task"],
                  ["name", "mode", "tasks"], "client_us_per_task")
    if res.get("latency"):
        out += ["### Pickup latency (ms, handler start − enqueue commit, database clock)", "",
                "| system | worker | p50 | p95 | p99 |", "|---|---|---|---|---|"]
        for r in res["latency"]:
            s = r["summary"]
            out.append(f"| {r['system']} | {r['label']} | {_fig(s.get('p50_ms'), 1)} | "
                       f"{_fig(s.get('p95_ms'), 1)} | {_fig(s.get('p99_ms'), 1)} |")
        out.append("")
    if res.get("sustained"):
        s = res["sustained"]
        out += ["### Sustained (pgtask, " + s["config"] + ")", "",
                "| tasks | overall tasks/s | first 10% | last 10% | last/first "
                "| hot table at the end (heap / with indexes) | peak during the run "
                "| hot dead tuples | history table | worker / Postgres µs/task |",
                "|---|---|---|---|---|---|---|---|---|---|",
                f"| {s['tasks']:,} | {s['tasks_per_s']:,.0f} | {s['first_10pct_per_s']:,.0f} | "
                f"{s['last_10pct_per_s']:,.0f} | {s['last_vs_first']:.2f} | "
                f"{_mb(s, 'hot_heap_bytes', 'hot_table_bytes')} MB | "
                f"{_mb(s, 'hot_peak_heap_bytes', 'hot_peak_bytes')} MB | "
                f"{s['hot_dead_tup']:,} | "
                f"{s['history_bytes'] / 1e6:.1f} MB | {s['worker_us_per_task']:.0f} / "
                f"{s['postgres_us_per_task']:.0f} |", ""]
    if isinstance(res.get("http"), list):  # end to end through pgtask worker
        out += ["### HTTP targets (tasks POSTed to a local no-op server by `pgtask worker`)", "",
                "| configuration | processes | tasks | dispatches/s "
                "| worker CPU µs/task | Postgres CPU µs/task |", "|---|---|---|---|---|---|"]
        for r in res["http"]:
            s = r["summary"]
            out.append(f"| {r['label']} | {r['processes']} | {r['tasks']:,} | "
                       f"{_fig(s.get('tasks_per_s'))} | {_fig(s.get('worker_us_per_task'))} | "
                       f"{_fig(s.get('postgres_us_per_task'))} |")
        out.append("")
    alone = res.get("http_dispatcher") or (res.get("http") if isinstance(res.get("http"), dict)
                                           else None)
    if alone:
        out += [f"`http_dispatch.py` (the dispatcher alone, no database): "
                f"{_fig(alone['summary'].get('tasks_per_s'))} dispatches/s, "
                f"{_fig(alone['summary'].get('worker_us_per_task'))} µs CPU per dispatch.", ""]
    out += targets_table(res)
    return "\n".join(out)


def targets(res: dict) -> list[tuple[str, str, bool | None]]:
    """(target, measured, holds) for each of issue 9's targets that this run measured."""
    d, e, lat = res.get("drain", []), res.get("enqueue", []), res.get("latency", [])
    rows: list[tuple[str, str, bool | None]] = []

    def ratio(name: str, a: float | None, b: float | None, at_least: float) -> None:
        if a is not None and b:
            rows.append((name, f"{a:,.0f} vs {b:,.0f} = {a / b:.2f}×", a / b >= at_least))

    pgt_best, pgq_best = _med(d, system="pgtask"), _med(d, system="pgqueuer")
    ceiling = _med(d, system="bare SQL")
    pgt_default = _med(d, system="pgtask", label="default (-c 10)", processes=1)
    ratio("drain: pgtask best ≥ 2× pgqueuer best", pgt_best, pgq_best, 2.0)
    ratio("drain: pgtask best ≥ 60% of the bare-SQL ceiling", pgt_best, ceiling, 0.6)
    ratio("drain: pgtask default (1 process) ≥ pgqueuer best", pgt_default, pgq_best, 1.0)
    if lat:
        p = {r["system"]: r["summary"] for r in lat}
        if "pgtask" in p and "pgqueuer" in p:
            a50, b50 = p["pgtask"]["p50_ms"]["median"], p["pgqueuer"]["p50_ms"]["median"]
            a99, b99 = p["pgtask"]["p99_ms"]["median"], p["pgqueuer"]["p99_ms"]["median"]
            rows.append(("latency: pgtask p50 and p99 below pgqueuer's",
                         f"p50 {a50:.1f} vs {b50:.1f} ms, p99 {a99:.1f} vs {b99:.1f} ms",
                         a50 < b50 and a99 < b99))
        if "pgtask" in p and "bare SQL" in p:
            a, b = p["pgtask"]["p50_ms"]["median"], p["bare SQL"]["p50_ms"]["median"]
            rows.append(("latency: pgtask p50 ≤ 1.5× the bare loop's",
                         f"{a:.1f} vs {b:.1f} ms = {a / b:.2f}×", a <= 1.5 * b))
    bulk_bare = _med(e, name="bare INSERT ... unnest")
    ratio("enqueue: pgtask.enqueue_many ≥ plain-SQL bulk ÷ 2",
          _med(e, name="pgtask.enqueue_many"), bulk_bare, 0.5)
    one_bare = _med(e, name="bare INSERT + commit")
    ratio("enqueue: SQL enqueue_task within 20% of bare INSERT + commit",
          _med(e, name="pgtask SQL enqueue_task"), one_bare, 0.8)
    ratio("enqueue: pgtask.enqueue within 20% of bare INSERT + commit",
          _med(e, name="pgtask.enqueue (psycopg)"), one_bare, 0.8)
    if res.get("sustained"):
        s = res["sustained"]
        rows.append(("sustained: last 10% ≥ 80% of first 10%", f"{s['last_vs_first']:.2f}",
                     s["last_vs_first"] >= 0.8))
        # The table itself (pg_relation_size); its indexes are shown beside it, not hidden.
        heap = s.get("hot_heap_bytes", s["hot_table_bytes"]) / 1e6
        rows.append(("sustained: hot table < 10 MB at the end",
                     f"{heap:.1f} MB (with its indexes {s['hot_table_bytes'] / 1e6:.1f} MB; "
                     f"peak during the run {_mb(s, 'hot_peak_heap_bytes', 'hot_peak_bytes')} MB)",
                     heap < 10))
    return rows


def targets_table(res: dict) -> list[str]:
    rows = targets(res)
    if not rows:
        return []
    out = ["### Issue 9 targets (this run)", "", "| target | measured | holds |", "|---|---|---|"]
    out += [f"| {t} | {m} | {'yes' if ok else 'NO'} |" for t, m, ok in rows]
    return out + [""]


def header(meta: dict) -> str:
    v = meta["versions"]
    pg = meta["postgres"]
    return "\n".join([
        f"Run {meta['date']} on {meta['machine']} (Postgres shares the cores with the workers).",
        f"Versions: pgtask {v['pgtask']}, pgqueuer {v['pgqueuer']} (asyncpg {v['asyncpg']}, "
        f"uvloop {v['uvloop']}), procrastinate {v['procrastinate']} (psycopg {v['psycopg']}), "
        f"Python {v['python']}, PostgreSQL {pg['server_version']} (shared_buffers "
        f"{pg['shared_buffers']}, synchronous_commit {pg['synchronous_commit']}, "
        f"fsync {pg['fsync']}).",
        f"Settings: {meta['settings']}. Each figure is the median of {meta['reps']} "
        "repetition(s) with (min–max); each repetition in a fresh database.",
        f"Other load on the machine during the run: {meta['foreign_load']}.", ""])


def update_readme(path: str, text: str) -> None:
    with open(path) as f:
        readme = f.read()
    block = f"{START}\n{text}\n{END}"
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    with open(path, "w") as f:
        f.write(pattern.sub(lambda _: block, readme) if pattern.search(readme)
                else readme + "\n" + block + "\n")
