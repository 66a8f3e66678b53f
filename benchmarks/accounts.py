"""Benchmark: three demo accounts sharing one daily run (params/accounts.yaml: the data and
the strategies step once) against three separate single-account runs (each loading the
data and running the strategies itself), for the bundled session 2024-01-02.

Each run is ``python -m algotrading daily --date 2024-01-02`` in a fresh process with
fresh params/reports/state folders, every notebook in its own kernel as in production.
A first, unmeasured run warms the caches (numba, matplotlib). Prints the wall time of
each and the ratio, with the load average before and after.

    .venv/bin/python benchmarks/accounts.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SESSION = "2024-01-02"
ACCOUNTS = [
    {"name": "small", "mode": "demo", "limits": {"PORTFOLIO_SIZE": 1000}},
    {"name": "medium", "mode": "demo", "limits": {"PORTFOLIO_SIZE": 2000, "MAX_POSITION_SIZE": 500}},
    {"name": "large", "mode": "demo", "limits": {"PORTFOLIO_SIZE": 5000, "MAX_POSITION_SIZE": 1000}},
]


def run(folder: Path, accounts: list[dict] | None = None, limits: dict[str, object] | None = None) -> float:
    """One ``algotrading daily`` in fresh folders under ``folder``: its wall seconds."""
    params = folder / "params"
    shutil.copytree(ROOT / "params", params)
    if accounts is not None:
        (params / "accounts.yaml").write_text(yaml.safe_dump({"accounts": accounts}))
    keep = ("PATH", "HOME", "LANG", "NUMBA_CACHE_DIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / "state" / "numba-cache"))
    env |= {
        "ALGOTRADING_ENV_FILE": "",
        "ALGOTRADING_PARAMS_DIR": str(params),
        "ALGOTRADING_REPORTS_DIR": str(folder / "reports"),
        "ALGOTRADING_STATE_DIR": str(folder / "state"),
        "PYTHONPATH": str(ROOT / "src"),
        **{k: str(v) for k, v in (limits or {}).items()},
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "algotrading", "daily", "--date", SESSION], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="algotrading-bench-accounts-") as tmp:
        base = Path(tmp)
        run(base / "warm-up")
        shared = run(base / "shared", ACCOUNTS)
        print(f"three accounts in one run: {shared:6.1f} s", flush=True)
        separate = []
        for account in ACCOUNTS:
            separate.append(run(base / f"separate-{account['name']}", limits=account["limits"]))
            print(f"  separate run {account['name']:<7}: {separate[-1]:6.1f} s", flush=True)
    total = sum(separate)
    print(f"three separate runs:       {total:6.1f} s ({' + '.join(f'{s:.1f}' for s in separate)})")
    print(f"shared / separate: {shared / total:.2f} (saves {total - shared:.1f} s)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
