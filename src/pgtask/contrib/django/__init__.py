"""Django Tasks on pgtask: TASKS = {"default": {"BACKEND": "pgtask.contrib.django.PgTaskBackend"}}.

Add "pgtask.contrib.django" to INSTALLED_APPS for `manage.py pgtask_worker`. Importing this
package costs nothing until PgTaskBackend is asked for (pgtask's CLI imports its `cli`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgtask.contrib.django.backend import PgTaskBackend

__all__ = ["PgTaskBackend"]


def __getattr__(name: str) -> Any:
    if name == "PgTaskBackend":
        from pgtask.contrib.django.backend import PgTaskBackend

        return PgTaskBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
