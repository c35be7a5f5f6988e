#!/usr/bin/env bash
# Installs what `make test` needs beyond the venv: Debian's redis-server, for the shared
# budget-store tests (tests/budgets/ start their own server on a free 127.0.0.1 port).
# Idempotent; a no-op when it is already there.
set -euo pipefail

if ! command -v redis-server >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    echo "install-test-deps: installing redis-server (apt-get)"
    $SUDO apt-get install -y -q --no-install-recommends redis-server >/dev/null 2>&1 || {
        $SUDO apt-get update -q >/dev/null
        $SUDO apt-get install -y -q --no-install-recommends redis-server >/dev/null
    }
    # The package enables a system service; the tests run their own instances instead.
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
