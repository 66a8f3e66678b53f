#!/usr/bin/env bash
# Set up .venv for AlgoTrading on first use, and again whenever pyproject.toml or
# constraints.txt change. Usage: scripts/bootstrap.sh [--test | --orchestrator]
#   --test          also install the test extras (pytest, nbval, hypothesis, aiosmtpd, ..., and prefect)
#   --orchestrator  also install prefect, for examples/prefect_flow.py (README: Under an orchestrator)
# Every install is pinned by constraints.txt (versions tested together).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.algotrading-installed"
EXTRAS=""
case "${1:-}" in
  --test) EXTRAS="test" ;;
  --orchestrator) EXTRAS="orchestrator" ;;
esac

say() { printf 'bootstrap: %s\n' "$*" >&2; }

pick_python() {
  local candidates=("${ALGOTRADING_PYTHON:-}" python3.11 python3.12 python3.13 python3)
  for py in "${candidates[@]}"; do
    [[ -n "$py" ]] || continue
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  return 1
}

wanted_hash() {
  cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1
}

installed_ok() {
  [[ -x "$VENV/bin/python" && -f "$STAMP" ]] || return 1
  "$VENV/bin/python" -c 'import sys' 2>/dev/null || return 1
  local hash extras
  read -r hash extras < "$STAMP" || return 1
  [[ "$hash" == "$(wanted_hash)" ]] || return 1
  # an install with the test extras also serves a plain run and the orchestrator (it includes prefect)
  [[ -z "$EXTRAS" || "${extras:-}" == "test" || "${extras:-}" == "$EXTRAS" ]]
}

# The package's modules compiled once, here: with PYTHONDONTWRITEBYTECODE set (as on this
# machine) every process would compile those it imports again, about 0.15 s of CPU each
# (-X importtime, 2026-12-07), and a run or the suite starts dozens of processes.
# compileall writes the .pyc files regardless and skips the unchanged ones (0.1 s).
compile_package() {
  "$VENV/bin/python" -m compileall -q "$ROOT/src/algotrading" >/dev/null || say "could not compile src/algotrading (it runs, slower)"
}

if installed_ok; then
  compile_package
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  PY="$(pick_python)" || { say "need Python >= 3.11 (with venv); install it (Debian: apt-get install python3 python3-venv) or set ALGOTRADING_PYTHON"; exit 2; }
  say "creating $VENV with $("$PY" --version 2>&1)"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi

spec="."
[[ -n "$EXTRAS" ]] && spec=".[${EXTRAS}]"
say "installing algotrading${EXTRAS:+ with [$EXTRAS]} and its pinned dependencies into .venv (first time: 1-3 minutes)"
started=$SECONDS
# (the grep drops pip's notice about index folders of this machine's pip.conf that do not exist)
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
  -c "$ROOT/constraints.txt" -e "$ROOT/$spec" \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"$VENV/bin/python" -m ipykernel install --sys-prefix --name algotrading \
  --display-name "AlgoTrading (.venv)" >/dev/null
echo "$(wanted_hash) ${EXTRAS}" > "$STAMP"
compile_package
say "ready in $((SECONDS - started)) s"
