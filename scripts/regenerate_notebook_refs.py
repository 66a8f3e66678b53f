"""Regenerate the notebook references in tests/notebook_refs/ after an intended change.

    .venv/bin/python scripts/regenerate_notebook_refs.py

Runs the pinned cases (tests/notebook_refs/cases.py: the demo daily run of 2024-01-02 and
the replay 2022-01-03 .. 2022-01-13) in a temporary folder, in the environment the test
suite gives its tests (tests/conftest.py scrubs keys, settings and .env), takes the
executed notebooks they wrote (10_strategies, 20_ranking, 30_safety, 40_risk,
90_daily_report and replay), and writes them with their outputs as references (see
cases.make_reference). Review the diff (`git diff --stat tests/notebook_refs`, then the
changed cells) before committing it: every changed number in it is a changed result.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

import tests.conftest as suite  # noqa: E402  (importing it scrubs os.environ as the suite does)
from tests.notebook_refs import cases  # noqa: E402


def main() -> int:
    shutil.rmtree(suite._SESSION_TMP, ignore_errors=True)  # made by the import; this script uses its own
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=cases.WORK_PREFIX) as tmp:
        made = cases.build_cases(Path(tmp), dict(os.environ) | suite.REAL_KERNELS, replay_html=True)
        sources = [(made.run_dir / name, name) for name in cases.DAILY_NOTEBOOKS]
        sources.append((made.replay_dir / cases.REPLAY_NOTEBOOK, cases.REPLAY_NOTEBOOK))
        total = 0
        for executed, name in sources:
            target = cases.HERE / name
            nbformat.write(cases.make_reference(executed, name), target)
            size = target.stat().st_size
            total += size
            print(f"{target.relative_to(ROOT)}: {size / 1e3:,.0f} kB")
        for line in cases.trades_summary(made):
            print(line)
    print(f"{len(sources)} references, {total / 1e6:.2f} MB, in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
