#!/usr/bin/env bash
# Installs what `make test` needs beyond the venv, from Debian: redis-server, for the shared
# budget-store tests (tests/budgets/ start their own server on a free 127.0.0.1 port), and
# prometheus, for its promtool (tests/test_alerts.py unit-tests collector-config/alerts.yaml).
# Idempotent; a no-op when both are already there.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

install() {  # install <binary> <package>
    if command -v "$1" >/dev/null 2>&1; then return; fi
    echo "install-test-deps: installing $2 (apt-get)"
    # --no-install-recommends: skips the node exporter and other extras we do not run.
    $SUDO apt-get install -y -q --no-install-recommends "$2" >/dev/null 2>&1 || {
        $SUDO apt-get update -q >/dev/null
        $SUDO apt-get install -y -q --no-install-recommends "$2" >/dev/null
    }
    # The package enables a system service; the tests run their own instances instead.
    $SUDO systemctl disable --now "$2" >/dev/null 2>&1 || true
}

install redis-server redis-server
install promtool prometheus
