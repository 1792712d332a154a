"""No two of pgtask's advisory locks share a key (a clash once stopped the hot-table vacuum)."""

from pgtask.store import locks


def test_every_advisory_lock_has_its_own_key():
    keys = {name: value for name, value in vars(locks).items() if name.endswith("_LOCK_KEY")}
    assert len(keys) >= 4
    assert len(set(keys.values())) == len(keys), keys
    assert all(-(2**63) <= key < 2**63 for key in keys.values())  # a Postgres bigint
