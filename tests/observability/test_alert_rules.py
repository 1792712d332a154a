"""deploy/prometheus: the alert rules pass `promtool check rules` and their unit tests
(`promtool test rules`), the example configuration passes `promtool check config`, and
every rule carries a severity and a summary and description."""

from __future__ import annotations

import subprocess

import yaml

from .conftest import DEPLOY

RULES = DEPLOY / "prometheus" / "pgtask-alerts.yml"
REQUIRED = {"PgtaskQueueLagHigh", "PgtaskTasksDead", "PgtaskNoLiveWorker",
            "PgtaskXminHorizonHeld"}


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"]]


def promtool_ok(promtool: str, *args: str) -> str:
    done = subprocess.run([promtool, *args], cwd=RULES.parent, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_checks_the_rules(promtool):
    assert "SUCCESS: 5 rules found" in promtool_ok(promtool, "check", "rules", RULES.name)


def test_promtool_unit_tests_pass(promtool):
    assert "SUCCESS" in promtool_ok(promtool, "test", "rules", "pgtask-alerts.test.yml")


def test_promtool_checks_the_example_config(promtool):
    assert "is valid prometheus config" in promtool_ok(promtool, "check", "config",
                                                       "prometheus.yml")


def test_every_rule_has_severity_and_annotations():
    names = set()
    for rule in rules():
        names.add(rule["alert"])
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert names >= REQUIRED
    unit_tests = yaml.safe_load((RULES.parent / "pgtask-alerts.test.yml").read_text())
    tested = {case["alertname"] for t in unit_tests["tests"] for case in t["alert_rule_test"]}
    assert tested == names  # each rule has unit tests


def test_the_commands_the_alerts_suggest_exist():
    """A `pgtask ...` an alert's description tells the on-call to run parses as a pgtask
    command line: its command and options exist (a stale name would send them astray)."""
    import re
    import shlex

    import click

    from pgtask.cli import cli

    suggested = [re.sub(r"\{\{[^}]*\}\}", "mail", found)
                 for rule in rules() for text in rule["annotations"].values()
                 for found in re.findall(r"`pgtask ([^`]+)`", text)]
    assert len(suggested) >= 2
    for line in suggested:
        args, command = shlex.split(line), cli
        while isinstance(command, click.Group):
            sub = command.get_command(click.Context(command), args[0])
            assert sub is not None, line
            command, args = sub, args[1:]
        command.make_context(line.split()[0], args)  # raises click.UsageError if stale
