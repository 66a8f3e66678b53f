#!/usr/bin/env bash
# The whole test suite: sets up .venv with the test extras on first use, then runs the
# lint and type gate (ruff, mypy), pytest (unit and integration tests, plus nbval over
# the notebooks, --nbval-lax) and, beside it, nbval in its comparing mode over the notebook
# references in tests/notebook_refs (a second pytest invocation, one process: the
# references re-execute in order on a freshly made daily run and replay).
#   ./run_tests.sh                   everything
#   ./run_tests.sh -k calendar       arguments go to the first pytest only; the references are not compared
#   ./run_tests.sh --notebook-refs   the lint gate and the references only (more arguments go to that pytest)
# Three workers (pytest-xdist; ALGOTRADING_TEST_WORKERS=N, 0 runs in one process), each test
# file on one worker so its shared fixtures (a demo run, a replay) are made once. Three on
# two cores: a good part of the suite waits (a hung notebook's limit, servers starting,
# killed runs' kernels exiting), and a third worker computes meanwhile (2026-12-07, quiet:
# 3 min 56 s against 4 min 27 s with two; four took 4 min 27 s).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
scripts/bootstrap.sh --test
echo "lint: ruff check (E, F, B, I, UP; line length 120) and mypy (src/)" >&2
.venv/bin/ruff check --quiet src tests benchmarks scripts examples
.venv/bin/mypy
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/state/numba-cache}"

# nbval compares every output of tests/notebook_refs (regenerate them after an intended
# change: .venv/bin/python scripts/regenerate_notebook_refs.py); -o addopts= drops the
# suite's --nbval-lax and its sanitizers for the references' own.
refs=(.venv/bin/python -m pytest -o addopts= -p tests.imports_first -ra --strict-markers -p no:cacheprovider
  --nbval --nbval-current-env --nbval-sanitize-with tests/notebook_refs/nbval_sanitize.cfg tests/notebook_refs)
if [[ "${1:-}" == "--notebook-refs" ]]; then
  shift
  exec "${refs[@]}" "$@"
fi

workers="${ALGOTRADING_TEST_WORKERS:-3}"
suite=(.venv/bin/python -m pytest)
if [[ "$workers" != "0" ]]; then
  suite+=(-n "$workers" --dist loadfile --no-loadscope-reorder)
fi
if (( $# )); then
  exec "${suite[@]}" "$@"
fi
# The references run beside the suite, not after it: the suite's workers leave part of
# the two cores idle (kernels starting, fsyncs, the hung-notebook test's wait, the last
# files), and the references fill it. Their output follows the suite's.
refs_log="$(mktemp "${TMPDIR:-/tmp}/algotrading-refs.XXXXXX")"
trap 'rm -f "$refs_log"' EXIT
echo "notebook references: nbval compares tests/notebook_refs beside the suite (their output follows it)" >&2
"${refs[@]}" >"$refs_log" 2>&1 &
refs_pid=$!
status=0
"${suite[@]}" || status=$?
refs_status=0
wait "$refs_pid" || refs_status=$?
echo "notebook references (tests/notebook_refs, nbval comparing):" >&2
cat "$refs_log"
(( refs_status == 0 )) || status=$refs_status
exit "$status"
