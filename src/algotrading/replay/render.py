"""``replay.html``: the replay notebook executed on a replay's folder and rendered."""

from __future__ import annotations

from pathlib import Path

from algotrading.config import Settings
from algotrading.report.render import ensure_kernel, execute_notebook, render_html

NOTEBOOK = "replay.ipynb"
HTML = "replay.html"


def render_replay(settings: Settings, out_dir: Path) -> Path:
    """Execute ``notebooks/replay.ipynb`` on ``out_dir`` (papermill) and render it to
    ``out_dir/replay.html`` (nbconvert, offline). Returns the HTML's path."""
    source = settings.paths.notebooks_dir / NOTEBOOK
    if not source.is_file():
        raise FileNotFoundError(
            f"notebook {source} is missing: restore it from the repository or set ALGOTRADING_NOTEBOOKS_DIR"
        )
    out_dir = out_dir.resolve()
    executed = out_dir / NOTEBOOK
    execute_notebook(
        source,
        executed,
        parameters={"replay_dir": str(out_dir)},
        cwd=out_dir,
        cell_timeout=settings.schedule.notebook_cell_timeout_seconds,
        output_timeout=settings.schedule.notebook_output_timeout_seconds,
        kernel_name=ensure_kernel(),
    )
    html = out_dir / HTML
    render_html(executed, html, f"AlgoTrading replay {out_dir.name}")
    return html
