#!/usr/bin/env bash
# The whole test suite: sets up .venv with the test extras on first use, then runs
# pytest (unit and integration tests, plus nbval over the notebooks).
# Extra arguments go to pytest, e.g. ./run_tests.sh -k calendar
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
scripts/bootstrap.sh --test
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/state/numba-cache}"
exec .venv/bin/python -m pytest "$@"
