"""`pgtask serve`: one ASGI application with the JSON HTTP API, the web dashboard and
Prometheus metrics. Mount it in your own Starlette/FastAPI app:

    from pgtask.web import create_app
    app.mount("/pgtask", create_app(dsn))

Needs the `web` extra (pip install 'pgtask[web]'); starlette is imported on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so that pgtask.worker.metrics imports without starlette.
    if name == "create_app":
        from pgtask.web.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
