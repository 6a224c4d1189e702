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

echo "== flake8"
"$VENV/bin/flake8"
echo "== mypy --strict"
"$VENV/bin/mypy"
echo "== pytest"
"$VENV/bin/python" -m pytest "$@"
