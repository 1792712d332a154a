import pytest

from pgtask.worker.polling import AdaptivePolling


def policy(**kw) -> AdaptivePolling:
    return AdaptivePolling(min_delay=0.01, max_delay=1.0, factor=2.0, jitter=0.0, **kw)


def test_a_full_batch_means_claim_again_at_once():
    assert policy().next_delay(claimed=10, asked=10) == 0.0


def test_a_partial_batch_means_look_again_soon():
    assert policy().next_delay(claimed=3, asked=10) == 0.01


def test_idle_claims_back_off_exponentially_to_the_cap():
    p = policy()
    delays = [p.next_delay(0, 10) for _ in range(10)]
    assert delays[:6] == pytest.approx([0.02, 0.04, 0.08, 0.16, 0.32, 0.64])
    assert delays[6:] == [1.0, 1.0, 1.0, 1.0]


def test_work_after_idleness_resets_the_backoff():
    p = policy()
    for _ in range(20):
        p.next_delay(0, 10)
    assert p.next_delay(1, 10) == 0.01
    assert p.next_delay(0, 10) == pytest.approx(0.02)
    p.next_delay(0, 10)
    p.reset()
    assert p.next_delay(0, 10) == pytest.approx(0.02)


def test_jitter_only_shortens_so_the_cap_holds_and_workers_drift_apart():
    noises = iter([0.0, 0.5, 0.999])
    p = AdaptivePolling(min_delay=0.5, max_delay=1.0, jitter=0.2, rng=lambda: next(noises))
    p.idle_claims = 10
    assert [p.next_delay(0, 1) for _ in range(3)] == pytest.approx([1.0, 0.9, 0.8002])


def test_long_idleness_does_not_overflow():
    p = policy()
    p.idle_claims = 10_000
    assert p.next_delay(0, 1) == 1.0


def test_the_default_cap_is_one_second():
    p = AdaptivePolling(rng=lambda: 0.0)
    assert max(p.next_delay(0, 1) for _ in range(50)) == 1.0


@pytest.mark.parametrize("kw", [{"min_delay": 0}, {"min_delay": 2, "max_delay": 1},
                                {"factor": 0.5}, {"jitter": 1.0}])
def test_nonsense_settings_are_refused(kw):
    with pytest.raises(ValueError):
        AdaptivePolling(**kw)
