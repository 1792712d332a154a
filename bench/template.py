"""The template database every scenario clones: pgtask, pgqueuer and procrastinate schemas
side by side, plus the bench's own tables (the bare-SQL queue and the latency stamps)."""

from __future__ import annotations

import os
import subprocess

import psycopg

from measure import BENCH_DIR, Server
from pgtask.store.migrate import migrate
from systems import BIN

BENCH_TABLES = """
create table bench_jobs (
  id        bigserial primary key,
  queue     text not null default 'default',
  payload   jsonb not null,
  state     text not null default 'queued',
  run_at    timestamptz not null default now(),
  locked_at timestamptz
);
create index bench_jobs_claim on bench_jobs (id) where state = 'queued';
create table bench_enq (k integer primary key, at timestamptz not null);
create table bench_start (k integer not null, at timestamptz not null);
"""


def build_template(server: Server) -> str:
    name = server.create("bench_tpl")
    dsn = server.dsn(name)
    migrate(dsn)
    env = {**os.environ, "PYTHONPATH": BENCH_DIR, "BENCH_DSN": dsn}
    for argv in ([os.path.join(BIN, "pgq"), "--pg-dsn", dsn, "install"],
                 [os.path.join(BIN, "procrastinate"), "--app=peer_procrastinate.app",
                  "schema", "--apply"]):
        done = subprocess.run(argv, cwd=BENCH_DIR, env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv[:3])} failed:\n{done.stdout}\n{done.stderr}")
    with psycopg.connect(dsn) as conn:
        conn.execute(BENCH_TABLES)
    return name
