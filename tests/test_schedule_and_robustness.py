"""The systemd schedule, and the run's guards: timeouts, disk space, an unwritable folder
(the crontab schedule: tests/test_schedule.py)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time

import nbformat
import pytest
import yaml

from algotrading.cli import main
from algotrading.config import load_settings
from algotrading.jobs.control import RunError, RunTimeout, deadline
from algotrading.jobs.daily import run_daily

from .conftest import ROOT


def test_systemd_install_writes_the_units(workdirs, tmp_path, capsys):
    assert main(["schedule", "install", "--systemd", "--dir", str(tmp_path / "units")]) == 0
    assert sorted(p.name for p in (tmp_path / "units").iterdir()) == [
        "algotrading-daily.service",
        "algotrading-daily.timer",
    ]
    assert "systemctl --user enable --now algotrading-daily.timer" in capsys.readouterr().out


def test_deadline_interrupts_work_that_hangs():
    started = time.monotonic()
    with pytest.raises(RunTimeout, match="the hung thing took longer than 0.3 s"), deadline(0.3, "the hung thing"):
        time.sleep(5)
    assert time.monotonic() - started < 2


def test_a_deadline_whose_first_exception_is_swallowed_raises_again():
    """Inside nbclient's event loop the first RunTimeout can land in a helper task whose
    error is dropped; the deadline keeps raising until the block is left."""
    swallowed = []
    with pytest.raises(RunTimeout, match="the hung thing took longer than 0.2 s"), deadline(0.2, "the hung thing"):
        try:
            time.sleep(30)
        except RunTimeout:
            swallowed.append("dropped")  # what the event loop did with the first one
        time.sleep(30)  # still hung
    assert swallowed == ["dropped"]


@pytest.mark.slow
def test_a_hung_notebook_is_stopped_and_the_run_fails_cleanly(workdirs, monkeypatch, tmp_path, real_kernels):
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    nb = nbformat.read(folder / "10_strategies.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("import time\ntime.sleep(600)"))
    nbformat.write(nb, folder / "10_strategies.ipynb")
    monkeypatch.setenv("ALGOTRADING_NOTEBOOKS_DIR", str(folder))
    path = workdirs["params"] / "schedule.yaml"
    doc = yaml.safe_load(path.read_text()) | {"notebook_timeout_seconds": 20}
    path.write_text(yaml.safe_dump(doc))
    started = time.monotonic()
    result = run_daily(load_settings(), dt.date(2025, 12, 31))
    assert time.monotonic() - started < 90
    assert result.exit_code == 1
    assert (
        "failed at step 'notebook:10_strategies': RunTimeout: notebook 10_strategies.ipynb took longer than 20 s"
        in result.message
    )
    from algotrading.jobs.control import run_lock

    with run_lock(workdirs["state"]):  # the lock was released: the next day's run can start
        pass


def test_too_little_disk_stops_the_run_before_anything(workdirs):
    path = workdirs["params"] / "schedule.yaml"
    doc = yaml.safe_load(path.read_text()) | {"min_free_disk_mb": 10**9}
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(RunError, match=r"only \d+ MB free under .*\(min_free_disk_mb 1000000000"):
        run_daily(load_settings(), dt.date(2025, 12, 31))
    assert not workdirs["state"].exists()  # no store, no ledger, nothing fetched


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_reports_folder_stops_the_run(workdirs):
    workdirs["reports"].mkdir()
    workdirs["reports"].chmod(0o500)
    try:
        with pytest.raises(RunError, match="cannot write to the reports folder"):
            run_daily(load_settings(), dt.date(2025, 12, 31))
    finally:
        workdirs["reports"].chmod(0o700)


def test_a_reports_folder_nobody_may_create_stops_the_run_even_as_root(workdirs, monkeypatch):
    """CI runs as root, which chmod cannot stop: a folder under /sys cannot be created by
    anyone (sysfs refuses mkdir), so this case runs there too."""
    monkeypatch.setenv("ALGOTRADING_REPORTS_DIR", "/sys/algotrading-test-reports")
    with pytest.raises(RunError, match=r"cannot write to the reports folder /sys/algotrading-test-reports \("):
        run_daily(load_settings(), dt.date(2025, 12, 31))
    assert not workdirs["state"].exists()  # stopped before the store, the data and the broker


def test_a_reports_path_that_is_a_file_stops_the_run(workdirs):
    workdirs["reports"].parent.mkdir(parents=True, exist_ok=True)
    workdirs["reports"].write_text("not a folder")
    with pytest.raises(RunError, match="cannot write to the reports folder .*set ALGOTRADING_REPORTS_DIR"):
        run_daily(load_settings(), dt.date(2025, 12, 31))


@pytest.mark.slow
def test_the_notebook_time_limits_from_params_reach_nbclient(workdirs, monkeypatch, tmp_path):
    """nbclient's own 4 s wait for a cell's output failed runs on a loaded machine: the
    limits in params/schedule.yaml are the ones the real notebook client runs with."""
    import papermill.engines

    from algotrading.report.render import ensure_kernel, execute_notebook

    path = workdirs["params"] / "schedule.yaml"
    doc = yaml.safe_load(path.read_text()) | {
        "notebook_output_timeout_seconds": 123,
        "notebook_cell_timeout_seconds": 456,
    }
    path.write_text(yaml.safe_dump(doc))
    settings = load_settings()
    seen: dict[str, object] = {}
    real_init = papermill.engines.PapermillNotebookClient.__init__

    def recording_init(self, *args, **kwargs):  # a spy: the real client runs the notebook
        real_init(self, *args, **kwargs)
        seen.update(iopub_timeout=self.iopub_timeout, timeout=self.timeout)

    monkeypatch.setattr(papermill.engines.PapermillNotebookClient, "__init__", recording_init)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nbformat.write(nb, tmp_path / "small.ipynb")
    execute_notebook(
        tmp_path / "small.ipynb",
        tmp_path / "out.ipynb",
        {},
        tmp_path,
        cell_timeout=settings.schedule.notebook_cell_timeout_seconds,
        kernel_name=ensure_kernel(),
        output_timeout=settings.schedule.notebook_output_timeout_seconds,
    )
    assert seen == {"iopub_timeout": 123, "timeout": 456}
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert out.cells[0].outputs[0]["text"] == "42\n"
    assert load_settings().schedule.notebook_output_timeout_seconds == 123


@pytest.mark.parametrize(
    ("content", "what"),
    [
        ('{"session": "2025-12-31", "orders": [ {"side": "buy"', "JSONDecodeError"),  # cut short
        ('{"session": "2025-12-31"}', "KeyError"),  # valid JSON, not a plan
        ("[1, 2, 3]", "TypeError"),
    ],
)
def test_a_damaged_plan_is_never_submitted_and_the_message_names_the_fix(workdirs, content, what):
    from algotrading.jobs.control import RunResult
    from algotrading.jobs.submission import submit_session
    from algotrading.storage.store import open_store

    folder = workdirs["reports"] / "2025-12-31"
    folder.mkdir(parents=True)
    (folder / "plan.json").write_text(content)
    settings = load_settings()
    result = RunResult(0, "already_done", "", dt.date(2025, 12, 31), folder)
    with open_store(workdirs["state"]) as store, pytest.raises(RunError) as info:
        submit_session(settings, result, store)
    message = str(info.value)
    assert message.startswith(f"{folder / 'plan.json'} is damaged ({what}: ")
    assert "nothing was sent from it. Re-plan the session with `algotrading daily --date 2025-12-31 --force`" in message


@pytest.fixture
def small_disk(tmp_path):
    """A real 6 MB filesystem (tmpfs) for the reports: a run's outputs (about 34 MB) fill it."""
    import subprocess

    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_reports_disk_that_fills_during_the_run_is_a_failed_run_that_says_disk_full(
    workdirs, monkeypatch, small_disk
):
    from algotrading.storage.store import open_store

    from .test_email import Webhook

    path = workdirs["params"] / "schedule.yaml"
    path.write_text(yaml.safe_dump(yaml.safe_load(path.read_text()) | {"min_free_disk_mb": 1}))  # it starts
    monkeypatch.setenv("ALGOTRADING_REPORTS_DIR", str(small_disk / "reports"))
    hook = Webhook()  # the alert that needs no disk
    monkeypatch.setenv("ALERT_WEBHOOK_URL", hook.url)
    try:
        result = run_daily(load_settings(), dt.date(2025, 12, 31))
    finally:
        hook.stop()
    assert len(hook.received) == 1 and "FAILED" in hook.received[0]["title"]
    assert "disk full under" in hook.received[0]["text"]
    assert (result.exit_code, result.status) == (1, "failed")
    reports = small_disk / "reports"
    assert f"disk full under {reports}: free space on that disk" in result.message, result.message
    with open_store(workdirs["state"]) as store:
        runs = store.runs()
    assert runs["status"].tolist() == ["failed"] and "disk full" in runs["error"].iloc[0]  # not left "running"
    assert not (small_disk / "reports" / "2025-12-31").exists()  # nothing half-done where the report goes
