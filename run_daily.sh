#!/usr/bin/env bash
# The daily job. On a fresh clone this sets up .venv first, then runs
# `algotrading daily` with the arguments given (e.g. --date 2025-12-31).
# Without Alpaca keys it runs in demo mode on the bundled data: no keys, no network.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
scripts/bootstrap.sh
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/state/numba-cache}"
exec .venv/bin/algotrading daily "$@"
