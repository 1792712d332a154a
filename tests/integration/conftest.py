import pytest

from tests.support.workers import WorkerProcess, prepare_chaos


@pytest.fixture
def chaos_dsn(dsn):
    """This test's database, with the chaos run log and fast retries on the default queue."""
    prepare_chaos(dsn)
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("insert into pgtask.queues (name, min_backoff, max_backoff, backoff_jitter) "
                     "values ('default', '10 ms', '50 ms', 0)")
    return dsn


@pytest.fixture
def spawn(chaos_dsn):
    started: list[WorkerProcess] = []

    def start(*args: str, **kw) -> WorkerProcess:
        worker = WorkerProcess(chaos_dsn, *args, **kw)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
