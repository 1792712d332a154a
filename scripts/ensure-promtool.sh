#!/bin/sh
# Make sure promtool (Debian package `prometheus`) is installed for the alert-rule tests
# (tests/observability/test_alert_rules.py: `promtool check rules`, `promtool test rules`).
# Installs it only when missing and only when it can (root, or passwordless sudo, with
# apt-get); otherwise it says so and leaves the decision to the test, which skips locally
# and fails under CI=true.
set -eu
if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-promtool: no apt-get; install promtool (Prometheus) yourself" >&2
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "ensure-promtool: not root and no passwordless sudo; run:" >&2
    echo "  sudo apt-get install --no-install-recommends prometheus" >&2
    exit 0
fi
echo "ensure-promtool: installing prometheus (for promtool)" >&2
$SUDO apt-get update -qq
# --no-install-recommends: only the binaries, not the exporters and web assets it suggests.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    prometheus >/dev/null
