#!/usr/bin/env bash
# The whole test suite: set-up, lint, type check, tests with coverage.
# Works on a fresh machine: makes a virtualenv in .venv from
# requirements-dev.txt (reused while that file is unchanged).
# Extra arguments go to pytest, e.g.  bash tests/run.sh -k parser -x
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
stamp="$VENV/.requirements-dev.sha256"
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== setting up $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 \
        | { grep -v "^WARNING: Location .* is ignored" || true; }
    echo "$want" >"$stamp"
fi
# Real HTTP clients for tests/e2e/test_clients.py, and nginx to check deploy/nginx.conf (nginx -t): installed
# only when missing and running as root (elsewhere those tests skip with a reason).
missing=""
for tool in curl:curl wget:wget aria2c:aria2 nginx:nginx; do
    command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool#*:}"
done
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing$missing"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; }; } >/dev/null 2>&1 \
        || echo "   could not install$missing; their client tests will be skipped"
fi

# Debian's Chromium for the browser tests (tests/e2e/test_browser.py drives it with Playwright; never a browser
# that Playwright downloads). Installed when missing and running as root; without it those tests fail.
if { [ ! -x /usr/bin/chromium ] || ! command -v chromedriver >/dev/null; } \
        && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing chromium chromium-driver"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }; } \
        >/dev/null 2>&1 || echo "   could not install chromium; the browser tests will fail"
fi

# tus-js-client for tests/e2e/test_tus_clients.py, from its lock file (reinstalled when the lock changes);
# without node those tests skip with the reason.
tusjs=tests/e2e/tusjs
if command -v npm >/dev/null; then
    lock=$(sha256sum "$tusjs/package-lock.json" | cut -d' ' -f1)
    if [ ! -d "$tusjs/node_modules" ] || [ "$(cat "$tusjs/node_modules/.lock.sha256" 2>/dev/null)" != "$lock" ]; then
        echo "== npm ci in $tusjs"
        (cd "$tusjs" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
            && echo "$lock" >"$tusjs/node_modules/.lock.sha256" \
            || echo "   npm ci failed; the tus-js-client tests will be skipped"
    fi
fi

echo "== flake8"
"$VENV/bin/flake8"
echo "== mypy --strict"
"$VENV/bin/mypy"
# Two passes: the fast tests (unit, contract, in-process HTTP on fakes in virtual time) first, with the
# coverage of the HTTP adapter they reach on their own (85% at least); then the end-to-end tests on the real
# process, whose coverage is added to the same data for the full report. pytest exits 5 when a pass selects
# no test (e.g. `-k parser` matches no end-to-end test): that is fine for one pass, not for both.
status=0
echo "== pytest: fast tests"
"$VENV/bin/python" -m pytest -m "not e2e and not container" --cov-report= "$@" || status=$?
if [ "$status" = 0 ]; then
    echo "== coverage of adapters/http/ by the fast tests alone"
    # The floor applies to the whole suite; a run narrowed by arguments only reports.
    floor=85
    [ $# = 0 ] || floor=0
    "$VENV/bin/coverage" report --include='adapters/http/*' --fail-under="$floor"
fi
[ "$status" = 0 ] || [ "$status" = 5 ] || exit "$status"
fast=$status
echo "== pytest: end-to-end tests"
status=0
"$VENV/bin/python" -m pytest -m "e2e or container" --cov-append "$@" || status=$?
[ "$status" = 0 ] || [ "$status" = 5 ] || exit "$status"
if [ "$fast" = 5 ] && [ "$status" = 5 ]; then
    echo "no test was selected"
    exit 5
fi
