"""render() is a pure function of a Snapshot: check frames on fixed snapshots."""

from dataclasses import replace

from pgtask.console.view import Thresholds, View
from pgtask.ops.snapshot import Health, QueueStats, XminHolder

from .fixtures import AT, BUSY, EMPTY, frame, worker


def test_busy_frame_shows_queues_rates_latency_limits_workers_and_health():
    text = frame(BUSY)
    assert "pgtask top  2030-01-01 12:00:00 UTC" in text
    assert "3 queues" in text and "2 workers (1 stale)" in text
    assert "416 done/s" in text and "1.20 failed/s" in text  # 412.5 + 3.0 (+ 0)
    row = next(line for line in text.splitlines() if line.startswith("default"))
    for cell in ("1,200", "40", "18", "2", "412", "380", "350", "1.20", "0.80", "0.50",
                 "2.5s", "4ms", "120ms", "950ms"):
        assert cell in row.split(), cell
    assert "emails ⏸ paused" in text
    emails = next(line for line in text.splitlines() if line.startswith("emails"))
    assert "≤5 100/s b20" in emails and "5m12s" in emails
    assert "http" in next(line for line in text.splitlines() if line.startswith("webhooks.out"))
    assert "app-1" in text and "default,emails" in text and "3/10" in text
    stale = next(line for line in text.splitlines() if line.startswith("app-2"))
    assert "STALE" in stale and "1m35s ago" in stale and "2d00h" in stale
    assert "1,234 dead tuples" in text and "last vacuum 2030-01-01 11:57:00" in text
    assert "xmin horizon  ok (oldest: pid 9876 (active, psql)" in text
    assert "NOTIFY        on" in text
    assert "▁" in text and "█" in text  # the sparkline


def test_empty_database():
    text = frame(EMPTY)
    assert "0 queues" in text and "0 workers" in text
    assert "no queues yet" in text and "no workers registered" in text
    assert "pgtask.tasks  no statistics yet" in text
    assert "0 done/s" in text


def test_200_queues_fit_the_height_and_follow_the_selection():
    many = replace(BUSY, queues=tuple(QueueStats(f"q{i:03d}", queued=i) for i in range(200)))
    everything = frame(many)
    assert all(f"q{i:03d}" in everything for i in range(200))
    bounded = frame(many, height=40, interactive=True, view=View(selected=150))
    assert len(bounded.splitlines()) <= 40
    assert "q150" in bounded and "q000" not in bounded
    assert "more queues" in bounded


def test_narrow_terminal_keeps_the_essentials():
    for width in (60, 40):
        text = frame(BUSY, width=width)
        header = next(line for line in text.splitlines() if line.startswith("QUEUE"))
        assert header.split()[:3] == ["QUEUE", "READY", "RUN"], header
        assert "P99" not in header and "LIMITS" not in header
        assert max(len(line) for line in text.splitlines()) <= width
    wide = next(line for line in frame(BUSY, width=200).splitlines() if line.startswith("QUEUE"))
    for column in ("SCHED", "DEAD", "P95", "P99", "LIMITS", "LAST 20s"):
        assert column in wide


def test_xmin_holder_over_the_threshold_is_a_warning():
    holder = XminHolder("transaction", "4321", 5000, 300.0, "idle in transaction, reports")
    snap = replace(BUSY, health=Health(xmin_holders=(holder,)))
    text = frame(snap)
    assert "⚠ pid 4321 (idle in transaction, reports) holds the xmin horizon for 5m00s" in text
    assert "vacuum cannot clean pgtask.tasks" in text
    quiet = frame(snap, thresholds=Thresholds(xmin_seconds=600))
    assert "⚠" not in quiet and "ok (oldest: pid 4321" in quiet
    slot = XminHolder("slot", "standby1", 2_000_000, None, "physical, inactive")
    slotted = frame(replace(BUSY, health=Health(xmin_holders=(slot,))))
    assert "⚠ replication slot 'standby1'" in slotted


def test_notify_off_and_a_full_notification_queue():
    off = frame(replace(BUSY, health=Health(notify_trigger=False)))
    assert "off: trigger tasks_notify is disabled" in off
    assert "50% full" in frame(replace(BUSY, health=Health(notify_trigger=True,
                                                            notify_queue_usage=0.5)))


def test_interactive_footer_shows_keys_filter_and_message():
    text = frame(BUSY, interactive=True, view=View(editing_filter=True, filter="em",
                                                   message="queue emails resumed"))
    assert "[s]ort: name" in text and "[q]uit" in text
    assert ": em▏" in text and "queue emails resumed" in text
    assert "default" not in text.split("WORKERS")[0]  # the filter hides it


def test_stale_threshold_is_configurable():
    snap = replace(BUSY, workers=(worker("slow", 1, 45.0),))
    assert "STALE" in frame(snap)
    assert "STALE" not in frame(snap, thresholds=Thresholds(stale_worker=60))


def test_json_snapshot_round_trips_the_numbers():
    import json

    data = json.loads(BUSY.to_json())
    assert data["at"] == AT.isoformat()
    assert data["queues"][0]["completed"] == {"s10": 412.5, "m1": 380.0, "m5": 350.2}
    assert data["workers"][1]["heartbeat_age"] == 95.0
    assert data["health"]["xmin_holders"][0]["name"] == "9876"
