"""Test-only tasks, found through the backend's OPTIONS["TASK_MODULES"] (settings.py)."""

from asgiref.sync import sync_to_async
from django.db import connection

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task


def _pid():
    with connection.cursor() as cur:
        cur.execute("select pg_backend_pid()")
        return cur.fetchone()[0]


@task
def backend_pid():
    """The Postgres backend pid of the connection Django gives this task's thread."""
    return _pid()


@task
async def async_pid():
    """An async task on the database the way Django's async ORM methods go (sync_to_async)."""
    return await sync_to_async(_pid)()


@task
async def async_sync_orm():
    """An async task calling the sync ORM straight: Django refuses (SynchronousOnlyOperation)."""
    return _pid()


@task(takes_context=True)
def seen_running(context):
    """What the task's own result says while it runs (get_result on Django's connection)."""
    result = context.task_result
    return {"id": result.id, "status": result.status.value, "attempt": context.attempt,
            "started": result.started_at is not None, "finished": result.is_finished}


@task
def not_json():
    """Returns a set: no JSON, so pgtask fails the task for good (and task_finished says so)."""
    return {1, 2}
