"""The pinned cases of the notebook references, shared by ``conftest.py`` (the test) and
``scripts/regenerate_notebook_refs.py`` (which writes the references).

A case is made the way a user makes it, with the real commands in a fresh folder:

- ``algotrading daily --date 2024-01-02`` in demo mode (a session with four buys);
  its run folder holds the executed 10_strategies, 20_ranking, 30_safety, 40_risk and
  90_daily_report notebooks and the files they read;
- ``algotrading replay --start 2022-01-03 --end 2022-01-13`` (nine sessions with buys,
  swaps and fills); its folder holds the executed replay notebook and its CSV files.

A reference is such an executed notebook with its outputs, made comparable
(:func:`make_reference`): the papermill and timing metadata are dropped, the outputs are
passed through the references' sanitizers (``nbval_sanitize.cfg`` beside this file,
the very patterns nbval applies at test time, so a regenerated reference differs from
the previous one only where a number, a row or a signal changed), and the parameters
cell papermill injected is kept but first changes the kernel's working folder to the
case folder the test made (the daily run's kernel ran inside its run folder too).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SANITIZE_CFG = HERE / "nbval_sanitize.cfg"

SESSION = "2024-01-02"
REPLAY_START = "2022-01-03"
REPLAY_END = "2022-01-13"
DAILY_NOTEBOOKS = (
    "10_strategies.ipynb",
    "20_ranking.ipynb",
    "30_safety.ipynb",
    "40_risk.ipynb",
    "90_daily_report.ipynb",
)
REPLAY_NOTEBOOK = "replay.ipynb"
#: prefix of the temporary case folders; ``nbval_sanitize.cfg`` replaces paths under it
WORK_PREFIX = "algotrading-nbrefs-"

#: no stored output may be larger (the largest today, a figure's JSON, is about 160,000)
MAX_OUTPUT_CHARS = 1_000_000

#: where the references' injected parameters cell finds its case folder
RUN_DIR_VAR = "ALGOTRADING_NBREFS_RUN_DIR"
REPLAY_DIR_VAR = "ALGOTRADING_NBREFS_REPLAY_DIR"


@dataclass(frozen=True)
class Cases:
    run_dir: Path  # reports/<SESSION>/ of the daily run
    replay_dir: Path  # the replay's --out folder

    def environ(self) -> dict[str, str]:
        """What the references' kernels need: the case folders, and the daily run's state
        and reports folders (as the run's own kernels had them)."""
        return {
            RUN_DIR_VAR: str(self.run_dir),
            REPLAY_DIR_VAR: str(self.replay_dir),
            "ALGOTRADING_STATE_DIR": str(self.run_dir.parents[1] / "state"),
            "ALGOTRADING_REPORTS_DIR": str(self.run_dir.parent),
        }


def build_cases(work: Path, environ: Mapping[str, str], replay_html: bool) -> Cases:
    """Run the pinned daily session and the pinned replay, side by side, in ``work``.

    ``environ`` is the environment of the commands (the caller scrubs it as the test
    suite does); ``replay_html=False`` skips the replay's own execution of its notebook
    (the test re-executes the reference instead)."""
    daily = work / "daily"
    replay = work / "replay"
    python = [sys.executable, "-m", "algotrading"]
    jobs = {
        "daily": (
            [*python, "daily", "--date", SESSION],
            {"ALGOTRADING_STATE_DIR": str(daily / "state"), "ALGOTRADING_REPORTS_DIR": str(daily / "reports")},
        ),
        "replay": (
            [*python, "replay", "--start", REPLAY_START, "--end", REPLAY_END, "--out", str(replay)]
            + ([] if replay_html else ["--no-html"]),
            {
                "ALGOTRADING_STATE_DIR": str(work / "replay-state"),
                "ALGOTRADING_REPORTS_DIR": str(work / "replay-reports"),
            },
        ),
    }
    running = {}
    for name, (argv, extra) in jobs.items():
        log = (work / f"{name}.log").open("w")
        proc = subprocess.Popen(argv, cwd=ROOT, env={**environ, **extra}, stdout=log, stderr=subprocess.STDOUT)
        running[name] = (proc, log, argv)
    deadline = time.monotonic() + 600
    failed = []
    for name, (proc, log, argv) in running.items():
        try:
            code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        log.close()
        if code != 0:
            tail = (work / f"{name}.log").read_text().splitlines()[-30:]
            failed.append(f"`{' '.join(argv[1:])}` exited {code}:\n" + "\n".join(tail))
    if failed:
        raise RuntimeError("the notebook references' cases could not be made:\n" + "\n\n".join(failed))
    return Cases(daily / "reports" / SESSION, replay)


def sanitize_patterns() -> list[tuple[re.Pattern[str], str]]:
    """The ``regex:`` / ``replace:`` pairs of ``nbval_sanitize.cfg``, parsed as nbval does."""
    pairs = re.findall("^regex: (.*)$\n^replace: (.*)$", SANITIZE_CFG.read_text(), flags=re.MULTILINE)
    return [(re.compile(regex), replace) for regex, replace in pairs]


def _sanitize(text: str, patterns: list[tuple[re.Pattern[str], str]]) -> str:
    for regex, replace in patterns:
        text = regex.sub(replace, text)
    return text


def _parameters_source(name: str, source: str) -> str:
    """The injected parameters cell of a reference: papermill's own assignments,
    preceded by a change into the case folder the test made."""
    var = REPLAY_DIR_VAR if name == REPLAY_NOTEBOOK else RUN_DIR_VAR
    assignments = [line for line in source.splitlines() if line and not line.startswith("#")]
    if name == REPLAY_NOTEBOOK:  # the replay passes its folder's absolute path
        assignments = [f'replay_dir = os.environ["{var}"]' if a.startswith("replay_dir =") else a for a in assignments]
    lines = [
        "# Parameters (papermill's, as the run passed them). Reference only: the kernel moves into the",
        "# case folder tests/notebook_refs/conftest.py made, as the run's kernel ran in its own folder.",
        "import os",
        "",
        f'os.chdir(os.environ["{var}"])',
        *assignments,
    ]
    return "\n".join(lines) + "\n"


def make_reference(executed: Path, name: str) -> nbformat.NotebookNode:
    """The reference of one executed notebook (see the module's docstring)."""
    nb = nbformat.read(executed, as_version=4)
    patterns = sanitize_patterns()
    nb.metadata.pop("papermill", None)
    nb.metadata.get("language_info", {}).pop("version", None)
    injected = 0
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        tags = cell.metadata.get("tags")
        if tags == []:
            del cell.metadata["tags"]
        if cell.cell_type != "code":
            continue
        if cell.execution_count is None:  # nbval would then compare nothing for it
            raise ValueError(f"{executed}: a code cell was not executed: {cell.source[:80]!r}")
        if "injected-parameters" in (tags or []):
            cell.source = _parameters_source(name, cell.source)
            cell.id = "injected-parameters"  # papermill draws a new id each run
            injected += 1
        for output in cell.outputs:
            if output.output_type == "stream":
                output.text = _sanitize(output.text, patterns)
            elif output.output_type == "error":
                raise ValueError(f"{executed}: a cell raised {output.ename}: {output.evalue}")
            else:
                output.metadata = {}
                for mime, value in output.get("data", {}).items():
                    if isinstance(value, str):
                        output.data[mime] = _sanitize(value, patterns)
                    if len(str(output.data[mime])) > MAX_OUTPUT_CHARS:
                        raise ValueError(
                            f"{executed}: a {mime} output of {len(str(output.data[mime])):,} characters in "
                            f"{cell.source[:60]!r}: too large for a reference (plotly.js no longer matched by "
                            f"the [plotlyjs] sanitizer of {SANITIZE_CFG.name}?)"
                        )
    if injected != 1:
        raise ValueError(f"{executed}: expected one papermill parameters cell, found {injected}")
    return nb


def trades_summary(cases: Cases) -> list[str]:
    """What the cases trade (for the regenerate script's report)."""
    plan = json.loads((cases.run_dir / "plan.json").read_text())
    lines = [
        f"daily {SESSION}: "
        + (
            ", ".join(
                f"{o['side']} {o['symbol']} ${o['est_value']:,.2f} ({o.get('strategy') or '-'})" for o in plan["orders"]
            )
            or "no orders"
        )
    ]
    orders = (cases.replay_dir / "orders.csv").read_text().splitlines()[1:]
    summary: dict[str, Any] = json.loads((cases.replay_dir / "summary.json").read_text())
    filled = sum(",filled," in row for row in orders)
    lines.append(
        f"replay {REPLAY_START} .. {REPLAY_END}: {summary['sessions_done']} sessions, {len(orders)} orders "
        f"({filled} filled), final equity ${summary['final_equity']:,.2f}"
    )
    return lines
