#!/usr/bin/env bash
# Set up everything on a fresh machine, then check every network (doctor + the parity report).
#   scripts/bootstrap.sh            # install, then run the doctor and the parity report
#   scripts/bootstrap.sh --no-run   # install only (what .ci/run uses)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
DATA_DIR=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}

if [ ! -f "$DATA_DIR/train-images-idx3-ubyte.gz" ]; then
    echo "== installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get install -y dataset-fashion-mnist \
        || { $SUDO apt-get update && $SUDO apt-get install -y dataset-fashion-mnist; }
fi

if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
echo "== installing the locked stack (requirements.lock: every package pinned, with hashes) and this project"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .

if [ "${1:-}" != "--no-run" ]; then
    echo "== environment check, then the parity report of every network (reports/)"
    .venv/bin/python -m parity doctor
    exec .venv/bin/python -m parity check --markdown reports/parity.md --json reports/parity.json
fi
