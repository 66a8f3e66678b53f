"""The daily run end to end in demo mode: a real Jupyter kernel through papermill, real
nbconvert HTML, the real NYSE calendar; plus closed days, failures and the run lock."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import stat
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import nbformat
import pandas as pd
import pytest
import time_machine

from algotrading.cli import main
from algotrading.config import UsageError, load_settings
from algotrading.data.bars import fingerprint
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.snapshot import history_start
from algotrading.jobs.control import RunError, run_lock
from algotrading.jobs.daily import run_daily

from .conftest import REAL_KERNELS, ROOT
from .helpers import CHROMIUM_OFFLINE, phone_width

NY = ZoneInfo("America/New_York")
LAST = dt.date(2025, 12, 31)
PASSWORD = "distinctive-smtp-password-7731"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One real demo run (about 7 s), shared by the checks below."""
    base = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in REAL_KERNELS.items():  # the real path: every notebook in a kernel of its own
            mp.setenv(name, value)
        mp.setenv("ALGOTRADING_REPORTS_DIR", str(base / "reports"))
        mp.setenv("ALGOTRADING_STATE_DIR", str(base / "state"))
        mp.setenv("EMAIL_USERNAME", "me@example.com")
        mp.setenv("EMAIL_PASSWORD", PASSWORD)  # a secret that must not reach any output
        settings = load_settings()
        result = run_daily(settings)
    return settings, result, base / "reports"


def test_demo_run_succeeds_for_the_last_bundled_session(demo_run):
    settings, result, reports = demo_run
    assert (result.exit_code, result.status, result.session_date) == (0, "ok", LAST)
    # the folders holding the account's state, positions and outbox are the user's only
    assert stat.S_IMODE(reports.stat().st_mode) == 0o700
    assert stat.S_IMODE(settings.paths.state_dir.stat().st_mode) == 0o700
    out = reports / "2025-12-31"
    assert result.report_dir == out
    assert {p.name for p in out.iterdir()} == {
        "10_strategies.ipynb",
        "20_ranking.ipynb",
        "30_safety.ipynb",
        "40_risk.ipynb",
        "90_daily_report.ipynb",
        "bars.parquet",
        "context.json",
        "data_health.parquet",
        "equity_history.parquet",
        "portfolio.json",
        "risk.json",
        "assets.json",
        "signals.parquet",
        "strategy_performance.parquet",
        "strategy_equity.parquet",
        "strategy_momentum.parquet",
        "strategy_correlation.parquet",
        "strategies.json",
        "ranking.parquet",
        "sizing.json",
        "plan.json",
        "report.html",
        "run.json",
        "run.log",
        "email.eml",
        "email.html",
        "validation.json",
        "alerts.json",
        "previous_orders.json",
        "limits.json",
    }
    assert not any((reports / ".staging").iterdir())
    assert not (reports / "failed").exists()


def test_report_html_is_self_contained_and_holds_the_figures(demo_run):
    html = (demo_run[2] / "2025-12-31" / "report.html").read_text()
    assert "<title>AlgoTrading report 2025-12-31</title>" in html
    # strategy momentum and equity; universe group indices and returns by symbol
    assert html.count("Plotly.newPlot(") == 4
    assert html.count("plotly.js v") == 1  # plotly.js inlined once, not per figure
    order = (
        "Next Day Trading Plan",  # the decision first
        "Portfolio Summary",
        "Top 4 Highest Conviction Signals",
        "Cash Depletion Analysis",
        "Position Consolidation Recommendations",
        "Yesterday's Orders",
        "About this run",
        "Signals",
        "Strategy performance",
        "Data health",
        "Universe performance",
    )
    positions = [html.index(f">{s}<a") for s in order]
    assert positions == sorted(positions)
    # the open alerts at the top, as the email lists them; words for a trader, not a developer
    alerts = json.loads((demo_run[2] / "2025-12-31" / "alerts.json").read_text())["open"]
    assert alerts and html.index(f"Alerts ({len(alerts)} open)") < positions[0]
    assert html.count(f"Alerts ({len(alerts)} open)") == 1  # the email's second copy is not in the report
    for word in ("DESIGN", "papermill", "run_dir", "True</td>", "False</td>", ">nan<"):
        assert word not in html, word
    plan = json.loads((demo_run[2] / "2025-12-31" / "plan.json").read_text())
    started = json.loads((demo_run[2] / "2025-12-31" / "context.json").read_text())["generated_at"]
    assert plan["generated_at"] in html and (started == plan["generated_at"] or started not in html)  # one time
    assert "Risk: ACTIVE" in html
    assert "4</b> strategies ran on 2025-12-31" in html
    assert "Strategy momentum, last 90 days" in html
    assert "All 61 symbols passed every check." in html
    assert not re.search(r"<script[^>]*\bsrc=", html), "external script"
    assert not re.search(r"<link[^>]*\bhref=[\"']https?:", html), "external stylesheet"
    assert "session_date = None" not in html  # code cells are hidden


def test_run_json_records_steps_versions_and_the_data_fingerprint(demo_run):
    settings, _, reports = demo_run
    run = json.loads((reports / "2025-12-31" / "run.json").read_text())
    assert run["status"] == "ok" and run["session_date"] == "2025-12-31" and run["mode"] == "demo"
    assert list(run["steps"]) == [
        "validate",
        "load_data",
        "account",
        "notebook:10_strategies",
        "notebook:20_ranking",
        "notebook:30_safety",
        "notebook:40_risk",
        "alerts",  # before the report, which shows the open alerts
        "notebook:90_daily_report",
        "render_html",
    ]
    assert run["plan"] == {
        "orders": 0,
        "buys": 0,
        "sells": 0,
        "buy_value": 0.0,
        "risk_state": "ACTIVE",
        "circuit_breaker": False,
    }
    assert all(seconds > 0 for seconds in run["steps"].values())
    assert run["versions"]["pandas"].startswith("3.") and run["versions"]["vectorbt"].startswith("1.2")
    symbols = settings.universe.all_symbols
    bars = BundledBarsProvider().get_bars(symbols, history_start(LAST, settings.data.history_sessions), LAST)
    assert run["data"]["fingerprint"] == fingerprint(bars)
    assert (run["data"]["symbols_requested"], run["data"]["symbols_usable"], run["data"]["excluded"]) == (61, 61, {})
    assert (run["data"]["first_date"], run["data"]["last_date"], run["data"]["rows"]) == (
        "2022-01-03",
        "2025-12-31",
        61 * 1003,
    )
    assert set(run["git"]) == {"revision", "dirty"}


def test_notebooks_get_only_date_and_folder_as_parameters(demo_run):
    for name in ("10_strategies", "20_ranking", "30_safety", "40_risk", "90_daily_report"):
        nb = nbformat.read(demo_run[2] / "2025-12-31" / f"{name}.ipynb", as_version=4)
        assert nb.metadata.papermill.parameters == {"session_date": "2025-12-31", "run_dir": "."}


def test_strategy_artifacts_match_a_direct_run(demo_run):
    """What the strategies notebook wrote equals running the strategies here on the same data."""
    from algotrading.backtest.walkforward import run_strategies
    from algotrading.daily import artifacts
    from algotrading.data.market import MarketData

    settings, _, reports = demo_run
    out = reports / "2025-12-31"
    snapshot, _ = artifacts.read_snapshot(out)
    direct = run_strategies(settings, MarketData.from_bars(snapshot.bars), LAST)
    written = artifacts.read_strategy_run(out)
    pd.testing.assert_frame_equal(written.signals, direct.signals, check_dtype=False)
    pd.testing.assert_series_equal(written.performance.momentum, direct.performance.momentum, check_names=False)


def test_notebooks_run_in_process_make_what_their_kernels_made(demo_run, workdirs):
    """The suite's other daily runs execute the notebooks in the test's process
    (report/inprocess.py): the same plan, the same artifacts, cell for cell outputs of the
    same kinds, and the same report and email as this module's real run, a kernel per
    notebook."""
    from algotrading.daily import artifacts

    reports = demo_run[2] / "2025-12-31"
    assert run_daily(load_settings(), LAST).exit_code == 0  # ALGOTRADING_NOTEBOOKS_IN_PROCESS=1 (conftest)
    here = workdirs["reports"] / "2025-12-31"
    plan, plan_here = (json.loads((d / "plan.json").read_text()) for d in (reports, here))
    for doc in (plan, plan_here):  # when it was made, and the simulated account's random number
        doc.pop("generated_at"), doc.pop("broker")
        doc["portfolio"].pop("account")
    assert plan == plan_here
    for name in ("signals", "ranking", "strategy_momentum", "strategy_performance", "strategy_equity"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(here / f"{name}.parquet"), pd.read_parquet(reports / f"{name}.parquet")
        )
    for name in artifacts.DAILY_NOTEBOOKS:
        kernel, in_process = (
            [
                [[o.output_type, sorted(o.get("data", {}))] for o in c.outputs if o.output_type != "stream"]
                for c in nbformat.read(str(folder / name), as_version=4).cells
                if c.cell_type == "code"
            ]
            for folder in (reports, here)
        )
        assert kernel == in_process and sum(map(len, kernel)) >= 2, name

    def comparable(html: str) -> str:  # what differs between two runs of the same session anyway
        for pattern in (
            r"cell-id=[0-9a-f-]+",
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            r"T_[0-9a-f]{5}",  # pandas Styler table ids
            r"SIM\d+",
        ):
            html = re.sub(pattern, "X", html)
        return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+\dZ:]*", "T", html)

    for name in ("report.html", "email.html"):
        assert comparable((here / name).read_text()) == comparable((reports / name).read_text()), name


def test_run_log_is_json_lines_and_no_secret_reaches_any_output(demo_run):
    out = demo_run[2] / "2025-12-31"
    lines = (out / "run.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert records[0]["message"].startswith("daily run for 2025-12-31 in demo mode")
    for path in out.rglob("*"):
        assert PASSWORD.encode() not in path.read_bytes(), path


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed (.ci/run installs it)")
def test_report_draws_its_figures_in_a_browser_without_network(demo_run, tmp_path):
    report = demo_run[2] / "2025-12-31" / "report.html"
    done = subprocess.run(
        [
            *CHROMIUM_OFFLINE,
            "--proxy-server=127.0.0.1:9",  # any fetch fails
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.count('class="main-svg"') >= 4  # plotly drew both figures (2 svg layers each)


def test_weekend_and_holiday_are_market_closed_and_write_nothing(workdirs):
    settings = load_settings()
    for day, why in [(dt.date(2025, 12, 27), "Saturday"), (dt.date(2025, 12, 25), "Christmas")]:
        result = run_daily(settings, day)
        assert (result.exit_code, result.status) == (0, "market_closed")
        assert result.message == f"market closed: {day} is not an NYSE session ({why}); nothing to do"
    assert not workdirs["reports"].exists()
    assert not workdirs["state"].exists()


def test_cli_market_closed_exits_0_and_bad_dates_exit_2(workdirs, capsys):
    assert main(["daily", "--date", "2025-12-27"]) == 0
    assert capsys.readouterr().out == ""  # the log line says it; nothing on stdout
    assert main(["daily", "--date", "2026-11-20"]) == 2
    assert "bundled data, which covers 2016-01-04 .. 2025-12-31" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["daily", "--date", "31/12/2025"])
    assert info.value.code == 2
    assert "use YYYY-MM-DD" in capsys.readouterr().err


def test_a_session_whose_bars_are_not_final_is_refused(workdirs):
    settings = load_settings()
    with time_machine.travel(dt.datetime(2026, 11, 27, 13, 0, tzinfo=NY), tick=False):
        with pytest.raises(UsageError, match=r"not final until 2026-11-27 13:15 ET"):
            run_daily(settings, dt.date(2026, 11, 27))


def test_a_second_concurrent_run_is_refused(workdirs):
    settings = load_settings()
    with run_lock(settings.paths.state_dir):
        with pytest.raises(RunError, match="another daily run holds .*daily.lock .pid"):
            run_daily(settings)
    assert not (workdirs["reports"] / "2025-12-31").exists()


def _failing_notebooks(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    path = folder / "90_daily_report.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell('raise RuntimeError("boom in a report cell")'))
    nbformat.write(nb, path)
    return folder


def test_a_failing_notebook_keeps_the_earlier_outputs(workdirs, tmp_path, monkeypatch):
    settings = load_settings()
    assert run_daily(settings, LAST).exit_code == 0  # the earlier outputs (notebooks in-process, conftest)
    good = workdirs["reports"] / "2025-12-31"
    before = {p.name: p.read_bytes() for p in good.iterdir()}

    for name, value in REAL_KERNELS.items():  # the failing run: each notebook in a kernel, through papermill
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALGOTRADING_NOTEBOOKS_DIR", str(_failing_notebooks(tmp_path)))
    assert run_daily(load_settings(), LAST).status == "already_done"  # no re-run without --force
    result = run_daily(load_settings(), LAST, force=True)
    assert (result.exit_code, result.status) == (1, "failed")
    assert "failed at step 'notebook:90_daily_report': RuntimeError: boom in a report cell" in result.message
    assert {p.name: p.read_bytes() for p in good.iterdir()} == before  # untouched

    failed = result.report_dir
    assert failed.parent == workdirs["reports"] / "failed"
    run = json.loads((failed / "run.json").read_text())
    assert (run["status"], run["failed_step"]) == ("failed", "notebook:90_daily_report")
    assert run["error"].startswith("RuntimeError: boom in a report cell (notebook cell [")
    partial = nbformat.read(failed / "90_daily_report.ipynb", as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in partial.cells for o in c.get("outputs", []))
    log = [json.loads(line) for line in (failed / "run.log").read_text().splitlines()]
    assert any("traceback" in r for r in log)  # the full traceback is kept in the run log


def validate_plan(path: Path) -> dict:
    import jsonschema

    from algotrading.schemas import plan_schema

    doc = json.loads(path.read_text())
    jsonschema.validate(doc, plan_schema())
    return doc


def test_plan_json_of_the_demo_run_validates_and_says_why_nothing_is_bought(demo_run):
    doc = validate_plan(demo_run[2] / "2025-12-31" / "plan.json")
    assert doc["orders"] == [] and doc["portfolio"]["equity"] == 1000.0
    buys = [s for s in doc["signals"] if s["action"] == "BUY"]
    assert all(s["decision"] == "rejected" and s["reasons"] for s in doc["signals"])
    assert buys == [] or all("momentum" in s["reasons"][0] for s in buys)
    message = demo_run[1].message  # the terminal says why, and names a session with trades
    assert message.startswith("no trades tomorrow: ") and message.index("; report for 2025-12-31: ") > 20
    assert "(to see a plan with trades on the bundled data: `./run_daily.sh --date 2024-01-02`)" in message


def test_a_session_with_orders_then_the_same_session_halted(workdirs):
    """2022-03-01: four buys within every limit; after a HALT the re-run sends none."""
    from algotrading.decisions.risk import RiskState
    from algotrading.storage.store import open_store

    settings = load_settings()
    day = dt.date(2022, 3, 1)
    assert run_daily(settings, day).exit_code == 0
    doc = validate_plan(workdirs["reports"] / "2022-03-01" / "plan.json")
    lim = settings.safety
    buys = [o for o in doc["orders"] if o["side"] == "buy"]
    assert len(buys) == 4
    for o in buys:
        assert lim.min_position_size <= o["notional"] <= min(lim.max_position_size, 0.3 * 1000)
        assert o["client_order_id"].startswith("at-20220301-buy-")
    assert sum(o["notional"] for o in buys) <= 1000 - lim.min_cash_buffer
    email = workdirs["reports"] / "2022-03-01" / "email.html"  # the report notebook's email cells
    page = email.read_text()
    assert page.index("Next Day Trading Plan") < page.index("Portfolio Summary") < page.index("Cash Depletion")
    assert page.count("<b>Why:</b>") == 4 and "<script" not in page and "data:image/png;base64," in page
    if shutil.which("chromium"):
        assert phone_width(email, workdirs["state"]) <= 390  # a day with trades reads on a phone

    with open_store(workdirs["state"]) as store:
        store.set_risk_state(RiskState.HALTED, "halted by the test", "user")
    assert run_daily(load_settings(), day, force=True).exit_code == 0
    doc = validate_plan(workdirs["reports"] / "2022-03-01" / "plan.json")
    assert doc["orders"] == [] and doc["risk"]["state"] == "HALTED"
    assert "HALTED since" in doc["risk"]["restrictions"][0]
    html = (workdirs["reports"] / "2022-03-01" / "report.html").read_text()
    assert "Risk: HALTED" in html
    with open_store(workdirs["state"]) as store:
        assert store.runs()["status"].tolist() == ["ok", "ok"]


def test_a_forked_kernel_makes_what_a_kernel_from_scratch_makes(demo_run, tmp_path, monkeypatch):
    """The daily run's kernels are forks of a server that imported their modules once
    (report/kernel_forks.py). The report notebook executed again on the same run folder in
    a kernel started from scratch (as jupyter_client starts one) shows the same outputs:
    tables, figures and the email's chart images, to the byte but for ids and addresses."""
    from algotrading.report import kernel_forks
    from algotrading.report.render import ensure_kernel, execute_notebook

    folder = shutil.copytree(demo_run[2] / "2025-12-31", tmp_path / "run")
    monkeypatch.setattr(kernel_forks, "kernel_arguments", lambda cmd: None)  # every kernel from scratch
    monkeypatch.delenv("JUPYTER_DEFAULT_PROVISIONER_NAME")
    name = "90_daily_report.ipynb"
    parameters = {"session_date": LAST.isoformat(), "run_dir": "."}
    execute_notebook(ROOT / "notebooks" / name, tmp_path / name, parameters, folder, 120, ensure_kernel(), 120)

    def outputs(path: Path) -> list[str]:
        cells = nbformat.read(str(path), as_version=4).cells
        text = json.dumps([c.outputs for c in cells if c.cell_type == "code"], sort_keys=True)
        uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        for pattern in (r"T_[0-9a-f]{5}", uuid, r"0x[0-9a-f]+"):  # table ids, figure ids, object addresses
            text = re.sub(pattern, "X", text)
        return json.loads(text)

    forked, scratch = outputs(demo_run[2] / "2025-12-31" / name), outputs(tmp_path / name)
    assert len(forked) == len(scratch) >= 20
    for number, (a, b) in enumerate(zip(forked, scratch, strict=True)):
        assert a == b, f"cell {number}"
    assert any("image/png" in o.get("data", {}) for cell in scratch for o in cell)  # the charts were compared


def test_a_report_rendered_again_in_one_process_is_what_a_new_exporter_renders(demo_run, tmp_path):
    """render.py keeps one nbconvert exporter per process (its compiled templates): a
    render after another one, of another title, is byte for byte what a new exporter
    makes of it, and carries its own title only."""
    from algotrading.report import render

    notebook = demo_run[2] / "2025-12-31" / "90_daily_report.ipynb"
    render._report_exporter.cache_clear()
    render.render_html(notebook, tmp_path / "first.html", "The first title")
    render.render_html(notebook, tmp_path / "again.html", "The second title")
    render._report_exporter.cache_clear()
    render.render_html(notebook, tmp_path / "new.html", "The second title")
    again = (tmp_path / "again.html").read_bytes()
    assert again == (tmp_path / "new.html").read_bytes()
    assert b"<title>The second title</title>" in again and b"The first title" not in again
