#!/bin/sh
# Install Debian packages a test needs, only when it can: root, or passwordless sudo, with
# apt-get. Otherwise it says what to run and exits 0, leaving the decision to the test, which
# skips locally and fails under CI=true. The callers (ensure-browser.sh, ensure-promtool.sh)
# check first whether the tool is there, so this runs only when something is missing.
#
# usage: ensure-debian-packages.sh NAME [--no-install-recommends] PACKAGE...
#   NAME prefixes the messages (the caller's name).
set -eu
name=$1
shift
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$name: no apt-get; install these yourself: $*" >&2
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "$name: not root and no passwordless sudo; run:" >&2
    echo "  sudo apt-get install $*" >&2
    exit 0
fi
echo "$name: installing $*" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
