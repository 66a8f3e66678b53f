#!/usr/bin/env bash
# The whole test suite: sets up .venv with the test extras on first use, then runs the
# lint and type gate (ruff, mypy) and pytest (unit and integration tests, plus nbval over
# the notebooks).
# Extra arguments go to pytest, e.g. ./run_tests.sh -k calendar
# Two workers (pytest-xdist, one per core; ALGOTRADING_TEST_WORKERS=0 runs in one process),
# each test file on one worker so its shared fixtures (a demo run, a replay) are made once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
scripts/bootstrap.sh --test
echo "lint: ruff check (E, F, B, I, UP; line length 120) and mypy (src/)" >&2
.venv/bin/ruff check --quiet src tests benchmarks scripts
.venv/bin/mypy
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/state/numba-cache}"
workers="${ALGOTRADING_TEST_WORKERS:-2}"
if [[ "$workers" == "0" ]]; then
  exec .venv/bin/python -m pytest "$@"
fi
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
