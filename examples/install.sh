# examples/install.sh
# From a checkout of the repository (the name "pgtask" on the package index is another
# project's: install this one from its source until it is published).
pip install .               # the queue, the worker, the CLI and an embedded Postgres
pip install ".[web]"        # + pgtask serve: the HTTP API, the dashboard, /metrics
pip install ".[mysql]"      # + MySQL/MariaDB as the database
pip install ".[otel]"       # + an OpenTelemetry span per attempt, linked to the enqueuer's
pip install ".[django]"     # + the django.tasks backend (pgtask.contrib.django)
pgtask --version
