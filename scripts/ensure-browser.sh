#!/bin/sh
# Make sure Debian's chromium and chromium-driver are installed for the dashboard's browser
# test (tests/web/test_browser.py); scripts/ensure-debian-packages.sh installs them when
# missing and when it can.
set -eu
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
exec sh "$(dirname "$0")/ensure-debian-packages.sh" ensure-browser chromium chromium-driver
