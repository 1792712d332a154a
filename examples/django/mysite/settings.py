# examples/django/mysite/settings.py
import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-not-secret")
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "pgtask.contrib.django",  # manage.py pgtask_worker
    "shop",  # shop/tasks.py: its tasks are found by the worker
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",  # the pgtask schema lives here too
        "NAME": os.environ.get("PGDATABASE", "mysite"),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "USER": os.environ.get("PGUSER", "postgres"),
    }
}
TASKS = {
    "default": {
        "BACKEND": "pgtask.contrib.django.PgTaskBackend",
        "QUEUES": ["default", "emails"],
        "OPTIONS": {
            "DATABASE": "default",  # enqueue on this connection, in its transaction
            "MAX_ATTEMPTS": 2,  # then FAILED (default: the pgtask queue's setting)
        },
    }
}
