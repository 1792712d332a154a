"""pgtask prune --batch-size, on either backend (issue 17): every batch its own
transaction, the total printed, a size out of range refused before anything is deleted."""

from .backends import OpsBackend


def test_prune_in_small_batches_forgets_every_old_task(run_cli, backend: OpsBackend):
    old = [backend.make("succeeded") for _ in range(7)]
    recent = backend.make("dead")
    for age, task_id in enumerate(old):
        backend.age_history(task_id, 8 * 86400 + age)
    result = run_cli("prune", "--batch-size", "2", "-y", "--dsn", backend.dsn)
    assert result.code == 0 and "pruned 7 task(s)" in result.out
    assert set(backend.states_by_id()) == {recent}


def test_a_batch_size_out_of_range_is_refused(run_cli, backend: OpsBackend):
    old = backend.make("succeeded")
    backend.age_history(old, 8 * 86400)
    for size in ("0", "1000001"):
        refused = run_cli("prune", "--batch-size", size, "-y", "--dsn", backend.dsn)
        assert refused.code == 2 and "--batch-size" in refused.err
    assert set(backend.states_by_id()) == {old}


def test_the_help_names_the_default_batch_size(run_cli):
    assert "10000" in run_cli("prune", "--help").out
