#!/usr/bin/env bash
# Installs what `make e2e` needs: Debian's prometheus (apt-get) and rotel + the OTel SDK
# Prometheus exporter (pip, into the project venv). Idempotent; a no-op in well under a
# second when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"

if ! command -v prometheus >/dev/null 2>&1 && [ ! -x /usr/bin/prometheus ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    # --no-install-recommends: skips the node exporter and other extras we do not run.
    $SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || {
        $SUDO apt-get update -q >/dev/null
        $SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null
    }
    # The package enables a system service; e2e runs its own instance on 127.0.0.1 instead.
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

if [ ! -x "$PY" ]; then
    echo "install-e2e-deps: $PY not found; run 'make install' first" >&2
    exit 1
fi
"$PY" - <<'PYEOF' || "$PY" -m pip install -q --pre rotel opentelemetry-exporter-prometheus
import importlib.util, sys
missing = [m for m in ("rotel", "opentelemetry.exporter.prometheus") if importlib.util.find_spec(m) is None]
sys.exit(1 if missing else 0)
PYEOF
echo "install-e2e-deps: $(prometheus --version 2>&1 | head -1)"
