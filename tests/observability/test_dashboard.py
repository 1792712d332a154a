"""deploy/grafana/pgtask.json loads as a Grafana dashboard: its structure, unique panel ids
and layout, a datasource variable in place of any fixed data source."""

from __future__ import annotations

import json
from typing import Any

from .conftest import DEPLOY, metric_names

DASHBOARD = DEPLOY / "grafana" / "pgtask.json"
TOPICS = ("throughput", "failures", "lag", "pickup", "running", "dead", "http dispatch",
          "workers alive", "xmin")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def datasources(node: Any) -> list[Any]:
    """Every `datasource` value anywhere in the document."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "datasource"] + [
            d for v in node.values() for d in datasources(v)]
    if isinstance(node, list):
        return [d for v in node for d in datasources(v)]
    return []


def test_the_dashboard_has_what_grafana_needs():
    d = dashboard()
    for required in ("title", "uid", "schemaVersion", "panels", "templating", "time"):
        assert required in d, required
    assert 36 <= d["schemaVersion"] <= 41
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["queue"]["type"] == "query"
    assert "label_values(pgtask_queue_tasks, queue)" in variables["queue"]["definition"]
    assert all(ds == {"type": "prometheus", "uid": "${datasource}"} for ds in datasources(d))


def test_panels_have_unique_ids_a_place_and_queries():
    panels = dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for p in panels:
        grid = p["gridPos"]
        assert {"h", "w", "x", "y"} <= grid.keys() and 0 <= grid["x"] < grid["x"] + grid["w"] <= 24
        assert p["targets"], p["title"]
        for target in p["targets"]:
            assert target["expr"].strip() and metric_names(target["expr"]), p["title"]
    titles = " | ".join(p["title"].lower() for p in panels)
    assert all(topic in titles for topic in TOPICS), titles


def test_panels_do_not_overlap():
    cells: set[tuple[int, int]] = set()
    for p in dashboard()["panels"]:
        g = p["gridPos"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, p["title"]
        cells |= mine
