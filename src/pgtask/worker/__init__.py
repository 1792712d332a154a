"""The worker: the whole runtime, from claim to finish (runner, executor, outcome buffer,
wake-up, listener, heartbeat, maintenance, supervisor, scheduler, metrics; http/ for targets)."""
