"""Report retention: the newest sessions stay complete, older ones are compacted to the
plan, the run record, what was sent, and the gzip-compressed report."""

from __future__ import annotations

import gzip
import os

import pytest

from algotrading.cli import main
from algotrading.daily.retention import REPORT_GZ, prune, session_dirs

DAYS = ["2025-12-24", "2025-12-26", "2025-12-29", "2025-12-30", "2025-12-31"]


def full_folder(reports, day: str, submitted: bool = False) -> bytes:
    folder = reports / day
    (folder / "replaced" / "run-1").mkdir(parents=True)
    report = (f"<html>report of {day} " + "plotly.js " * 50_000 + "</html>").encode()
    (folder / "report.html").write_bytes(report)
    (folder / "plan.json").write_text('{"orders": []}')
    (folder / "run.json").write_text('{"status": "ok"}')
    (folder / "bars.parquet").write_bytes(os.urandom(200_000))  # data does not compress
    (folder / "90_daily_report.ipynb").write_text("{}" * 10_000)
    (folder / "replaced" / "run-1" / "plan.json").write_text("{}")
    if submitted:
        (folder / "submission.json").write_text('{"outcomes": []}')
    return report


def test_older_sessions_are_compacted_and_the_newest_stay_whole(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "outbox").mkdir()  # not a session folder: never touched
    (reports / "status.html").write_text("x")
    originals = {d: full_folder(reports, d, submitted=d == DAYS[0]) for d in DAYS}

    done = prune(reports, keep_full=2)
    assert done.compacted == tuple(DAYS[:3]) and done.kept_full == 2
    assert done.bytes_before > 4 * done.bytes_after  # about 1 MB of report and data each, down to the gzip
    for day in DAYS[:3]:
        folder = reports / day
        names = {p.name for p in folder.iterdir()}
        assert names == {"plan.json", "run.json", "replaced", REPORT_GZ} | (
            {"submission.json"} if day == DAYS[0] else set()
        )
        assert gzip.decompress((folder / REPORT_GZ).read_bytes()) == originals[day]  # nothing of the report lost
        assert (folder / "replaced" / "run-1" / "plan.json").is_file()  # the record of what was sent
    for day in DAYS[3:]:
        assert (reports / day / "report.html").read_bytes() == originals[day] and (
            reports / day / "bars.parquet"
        ).is_file()
    assert (reports / "outbox").is_dir() and (reports / "status.html").is_file()
    assert [p.name for p in session_dirs(reports)] == DAYS

    again = prune(reports, keep_full=2)  # nothing left to do
    assert again.compacted == () and "nothing to compact (2 full session folder(s) kept)" == again.words()[9:]


def test_a_compaction_cut_short_is_finished_by_the_next_pass(tmp_path):
    """Killed after the compressed report was written and before the rest was removed:
    the folder has both, and the next pass removes the rest without touching the gzip."""
    reports = tmp_path / "reports"
    reports.mkdir()
    for day in DAYS:
        full_folder(reports, day)
    half = reports / DAYS[0]
    (half / REPORT_GZ).write_bytes(gzip.compress((half / "report.html").read_bytes()))
    (half / "report.html").unlink()
    done = prune(reports, keep_full=4)
    assert done.compacted == (DAYS[0],)
    assert {p.name for p in half.iterdir()} == {"plan.json", "run.json", "replaced", REPORT_GZ}


def test_the_session_being_run_is_never_compacted(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    for day in DAYS:
        full_folder(reports, day)
    import datetime as dt

    done = prune(reports, keep_full=1, protect=dt.date(2025, 12, 24))  # a --date re-run of an old session
    assert DAYS[0] not in done.compacted and (reports / DAYS[0] / "report.html").is_file()


@pytest.mark.parametrize("keep", ["0", "abc", "-3"])
def test_the_prune_command_refuses_a_bad_count(workdirs, capsys, keep):
    with pytest.raises(SystemExit) as info:
        main(["reports", "prune", "--keep", keep])
    assert info.value.code == 2
    assert f"'{keep}' is not a number of sessions: use a whole number >= 1, e.g. 30" in capsys.readouterr().err


def test_the_prune_command_compacts_what_the_params_say(workdirs, capsys):
    reports = workdirs["reports"]
    reports.mkdir()
    for day in DAYS:
        full_folder(reports, day)
    assert main(["reports", "prune", "--keep", "3"]) == 0
    out = capsys.readouterr().out
    assert "compacted 2 session folder(s) (2025-12-24 .. 2025-12-26)" in out and "3 full session folder(s) kept" in out
    assert not (reports / DAYS[1] / "report.html").exists() and (reports / DAYS[2] / "report.html").is_file()
