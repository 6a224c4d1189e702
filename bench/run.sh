#!/usr/bin/env bash
# The benchmark, in one command (see BENCHMARKS.md):
#   bash bench/run.sh             full run: 30 s loads, 1 GiB transfers; rewrites BENCHMARKS.md
#   bash bench/run.sh --quick     smoke test: 3 s loads, 64 MiB "big" file; prints only
#   bash bench/run.sh --profile   full run plus py-spy profiles of the service
# On a fresh machine it first installs what it needs: wrk, nginx-full (WebDAV PUT), curl and taskset with
# apt-get, and the peers pinned in bench/requirements.txt into bench/.venv (reused while that file is unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v taskset >/dev/null || missing+=(util-linux)
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
if ! "$nginx_bin" -V 2>&1 | grep -q http_dav_module; then
    missing+=(nginx-full)  # the packaging with the WebDAV module (PUT uploads)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]} (apt-get)"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # Keep the packaged nginx service from starting: the harness runs its own nginx, privately.
    added_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    trap '[ -n "$added_policy" ] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    [ -n "$added_policy" ] && $sudo rm -f /usr/sbin/policy-rc.d
    added_policy=""
fi
export PATH="$PATH:/usr/sbin"

VENV=bench/.venv
stamp="$VENV/.requirements.sha256"
want=$(sha256sum bench/requirements.txt | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== setting up $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r bench/requirements.txt 2>&1 \
        | { grep -v "^WARNING: Location .* is ignored" || true; }
    echo "$want" >"$stamp"
fi

# 1,000 concurrent connections need more descriptors than the usual 1024.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=65536
ulimit -n "$hard" 2>/dev/null || true

# The service runs on the plain interpreter (it needs nothing from the venv).
BENCH_SERVICE_PYTHON=$(command -v "$PY")
export BENCH_SERVICE_PYTHON
exec "$VENV/bin/python" -m bench.run "$@"
