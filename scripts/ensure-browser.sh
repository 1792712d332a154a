#!/bin/sh
# Make sure Debian's chromium and chromium-driver are installed for the dashboard's browser
# test (tests/web/test_browser.py). Installs them only when missing and only when it can
# (root, or passwordless sudo, with apt-get); otherwise it says so and leaves the decision
# to the test, which skips locally and fails under CI=true.
set -eu
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-browser: no apt-get; install chromium and chromedriver yourself" >&2
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "ensure-browser: not root and no passwordless sudo; run:" >&2
    echo "  sudo apt-get install chromium chromium-driver" >&2
    exit 0
fi
echo "ensure-browser: installing chromium and chromium-driver" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
