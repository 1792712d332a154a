#!/bin/sh
# Make sure promtool (Debian package `prometheus`) is installed for the alert-rule tests
# (tests/observability/test_alert_rules.py: `promtool check rules`, `promtool test rules`);
# scripts/ensure-debian-packages.sh installs it when missing and when it can.
set -eu
if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
# --no-install-recommends: only the binaries, not the exporters and web assets it suggests.
exec sh "$(dirname "$0")/ensure-debian-packages.sh" ensure-promtool \
    --no-install-recommends prometheus
