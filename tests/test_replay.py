"""Replay: the daily decision pipeline walked forward in one process. Its plans must be the
daily run's plans (same starting state, same session), it must not look ahead, and an
interrupted replay must leave readable outputs."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import uuid
from multiprocessing import active_children

import numpy as np
import pandas as pd
import psutil
import pytest

from algotrading import calendar as cal
from algotrading.backtest.walkforward import compute_books, first_day_books, run_strategies, session_run
from algotrading.cli import main
from algotrading.config import load_settings
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.data.snapshot import history_start
from algotrading.data.validation import PrefixHealth, validate_bars
from algotrading.decisions.plan import Plan
from algotrading.faults import VARIABLE
from algotrading.jobs.daily import run_daily
from algotrading.replay import ReplayError, engine, replay

from .conftest import ROOT
from .forked import run_command

pytestmark = pytest.mark.slow

START, END = dt.date(2022, 1, 3), dt.date(2022, 1, 13)


def plan_doc(plan: Plan | dict) -> dict:
    doc = plan.to_json() if isinstance(plan, Plan) else dict(plan)
    doc.pop("generated_at")
    for part in (doc, doc["portfolio"]):  # each replay's simulated account has its own number
        part.get("broker", {}).pop("account", None)
    doc["portfolio"].pop("account", None)
    return json.loads(json.dumps(doc, sort_keys=True))


@pytest.fixture(scope="module")
def full_replay(tmp_path_factory):
    """2022-01-03 .. 2022-01-13: first buys on 01-03 and 01-04, then a swap on each of
    01-05, 01-06 and 01-07 with the buy waiting for the sell (the next session's catch-up
    sends it)."""
    out = tmp_path_factory.mktemp("replay") / "full"
    plans: dict[dt.date, Plan] = {}
    result = replay(load_settings(), START, END, out, on_plan=lambda p: plans.__setitem__(p.session, p))
    return out, result, plans


def test_replay_writes_every_output_and_the_numbers_agree(full_replay):
    out, result, plans = full_replay
    assert result.complete and result.sessions_done == result.sessions_total == 9
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["equity.csv", "orders.csv", "events.csv", "rules.csv", "positions.csv", "summary.json", "state"]
    )
    equity = pd.read_csv(out / "equity.csv")
    orders = pd.read_csv(out / "orders.csv")
    assert equity["session"].tolist() == [d.isoformat() for d in cal.sessions_between(START, END)]
    assert equity["equity"].iloc[0] == 1000.0 and equity["cash"].iloc[0] == 1000.0
    # every planned order is in orders.csv, and every order sent on D filled at D+1's open
    assert len(orders) == sum(len(p.orders) for p in plans.values()) > 0
    assert orders["client_order_id"].is_unique
    filled = orders[orders["status"] == "filled"]
    assert (
        filled["fill_session"].map(dt.date.fromisoformat)
        == filled["session"].map(lambda d: cal.next_session(dt.date.fromisoformat(d)))
    ).all()
    # cash moves exactly by the fills: 1000 - buys (value + fee) + sells (value - fee) up to the last session
    upto = filled[filled["fill_session"] <= END.isoformat()]
    value = upto["filled_qty"] * upto["fill_price"]
    flows = np.where(upto["side"] == "buy", -(value + upto["fee"]), value - upto["fee"]).sum()
    assert equity["cash"].iloc[-1] == pytest.approx(1000.0 + flows, abs=1e-3)
    # positions at the end are the buys not yet sold
    positions = pd.read_csv(out / "positions.csv")
    bought = set(upto.loc[upto["side"] == "buy", "symbol"]) - set(upto.loc[upto["side"] == "sell", "symbol"])
    assert set(positions["symbol"]) == bought
    assert equity["positions"].iloc[-1] == len(bought)
    events = pd.read_csv(out / "events.csv")
    assert (events["kind"] == "swap").sum() == (orders["kind"] == "swap").sum() >= 2
    summary = json.loads((out / "summary.json").read_text())
    assert (
        summary["complete"] and summary["sessions_done"] == 9 and summary["final_equity"] == equity["equity"].iloc[-1]
    )


def test_replay_plans_equal_the_daily_runs_from_the_same_state(full_replay, tmp_path, monkeypatch):
    """For sampled sessions: replay up to the session before, copy its state, run
    `algotrading daily --date D` on it (papermill notebooks and all); the plans agree."""
    _, _, plans = full_replay
    for day in (dt.date(2022, 1, 5), dt.date(2022, 1, 7)):
        before = tmp_path / f"before-{day}"
        replay(load_settings(), START, cal.previous_session(day), before)
        state = tmp_path / f"daily-state-{day}"
        shutil.copytree(before / "state", state)
        monkeypatch.setenv("ALGOTRADING_STATE_DIR", str(state))
        monkeypatch.setenv("ALGOTRADING_REPORTS_DIR", str(tmp_path / f"daily-reports-{day}"))
        result = run_daily(load_settings(), date=day)
        assert result.exit_code == 0, result.message
        daily_plan = json.loads((result.report_dir / "plan.json").read_text())
        assert plan_doc(daily_plan) == plan_doc(plans[day]), day
        assert len(plans[day].orders) > 0


def test_the_books_cut_at_a_session_equal_the_books_computed_up_to_it():
    """No look-ahead: signals and strategy performance on D from books computed on data
    running to 2025 equal those computed on data that ends at D."""
    settings = load_settings()
    day = dt.date(2023, 3, 15)
    begins = history_start(day, settings.data.history_sessions)
    bars = BundledBarsProvider().get_bars(settings.universe.all_symbols, begins, dt.date(2025, 12, 31))
    market = MarketData.from_bars(bars)
    books = compute_books(settings, market)
    for d in (day, dt.date(2023, 6, 1)):
        cut = session_run(settings, books, d)
        alone = run_strategies(settings, MarketData.from_bars(bars[bars["date"] <= pd.Timestamp(d)]), d)
        pd.testing.assert_frame_equal(cut.signals, alone.signals)
        pd.testing.assert_series_equal(cut.performance.momentum, alone.performance.momentum)
        pd.testing.assert_frame_equal(cut.performance.correlation, alone.performance.correlation)
        pd.testing.assert_series_equal(cut.performance.weights, alone.performance.weights)
        assert len(cut.signals) > 0


def test_sessions_before_the_backtests_start_equal_the_daily_computation():
    """In the first warmup_sessions of the data a daily run's backtest starts on the session
    itself; the replay's one-row shortcut gives the same signals and (empty) performance."""
    settings = load_settings()
    bars = BundledBarsProvider().get_bars(settings.universe.all_symbols, dt.date(2016, 1, 4), dt.date(2017, 12, 29))
    market = MarketData.from_bars(bars)
    books = compute_books(settings, market)
    template = first_day_books(settings, books, market, dt.date(2016, 6, 1))
    for day in (dt.date(2016, 6, 1), dt.date(2016, 11, 9)):  # the template itself, and one re-dated
        assert day < books.start
        fast = session_run(settings, first_day_books(settings, books, market, day, template), day)
        alone = run_strategies(settings, MarketData.from_bars(bars[bars["date"] <= pd.Timestamp(day)]), day)
        pd.testing.assert_frame_equal(fast.signals, alone.signals)
        pd.testing.assert_series_equal(fast.performance.momentum, alone.performance.momentum)
        pd.testing.assert_frame_equal(fast.performance.equity, alone.performance.equity)
        pd.testing.assert_series_equal(fast.performance.benchmark, alone.performance.benchmark)
        pd.testing.assert_series_equal(fast.performance.weights, alone.performance.weights)
        assert fast.performance.momentum.isna().all() and len(fast.signals) > 0


def test_a_longer_replay_makes_the_same_plans_for_the_sessions_they_share(full_replay, tmp_path):
    """No look-ahead at the replay's level: data after D (a later --end) changes nothing up to D."""
    _, _, plans = full_replay
    shorter: dict[dt.date, Plan] = {}
    replay(
        load_settings(),
        START,
        dt.date(2022, 1, 6),
        tmp_path / "short",
        on_plan=lambda p: shorter.__setitem__(p.session, p),
    )
    assert shorter and all(plan_doc(p) == plan_doc(plans[d]) for d, p in shorter.items())


def test_a_replay_over_two_history_starts_prepares_the_next_in_a_worker_with_the_same_outputs(tmp_path, monkeypatch):
    """Two stretches (a new history start from 2021-12-30): the strategies' part of the second
    runs in a worker process while the first is planned (replay/engine._Preparer); every
    output equals a replay that prepares both stretches in its own process."""
    start, end = dt.date(2021, 12, 29), dt.date(2022, 1, 6)
    assert len(engine._spans(cal.sessions_between(start, end), load_settings().data.history_sessions)) == 2
    workers: list[int] = []
    replay(load_settings(), start, end, tmp_path / "worker", on_plan=lambda p: workers.append(len(active_children())))
    monkeypatch.setattr(engine, "WORKER_FROM_STRETCHES", 3)
    replay(load_settings(), start, end, tmp_path / "here", on_plan=lambda p: workers.append(len(active_children())))
    assert workers == [1] * 7 + [0] * 7  # one worker through the first replay, none in the second
    for name in ("equity.csv", "orders.csv", "events.csv", "rules.csv", "positions.csv"):
        assert (tmp_path / "worker" / name).read_bytes() == (tmp_path / "here" / name).read_bytes(), name
    assert len(pd.read_csv(tmp_path / "here" / "orders.csv")) > 0


def test_a_replay_killed_by_kill_9_takes_its_worker_with_it(tmp_path):
    """The worker that prepares stretches ahead dies with the replay's process (on Linux,
    PR_SET_PDEATHSIG): a replay killed by kill -9 or the OOM killer leaves no process behind.
    The replay dies by SIGKILL right after it took the stretch its worker prepared, when the
    worker waits on its task queue, which nothing will ever close (the case that hung)."""
    mark = f"replay-worker-{uuid.uuid4().hex}"  # the worker inherits the replay's environment
    env = os.environ | {VARIABLE: "replay:from_worker", "ALGOTRADING_TEST_MARK": mark}
    args = ["replay", "--start", "2021-12-29", "--end", "2022-01-06", "--out", str(tmp_path / "r"), "--no-html"]
    done = run_command(args, env, ROOT, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]

    def marked() -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.environ().get("ALGOTRADING_TEST_MARK") == mark:
                    found.append(process)
        return found

    gone, alive = psutil.wait_procs(marked(), timeout=60)
    for left in alive:
        left.kill()
    assert not alive, "the replay's worker outlived it"


def test_the_history_a_run_loads_starts_on_a_year_start():
    """756 sessions back from a day of 2025 lands in late 2021 (January) or in 2022: the
    runs of 2025 start their history (and so their indicators and backtests) on one of
    two year starts, and switch once."""
    sessions = cal.sessions_between(dt.date(2025, 1, 2), dt.date(2025, 12, 31))
    starts = [history_start(d, 756) for d in sessions]
    assert sorted(set(starts)) == [dt.date(2021, 1, 4), dt.date(2022, 1, 3)]
    assert starts == sorted(starts)
    assert history_start(dt.date(2019, 6, 3), 756) == dt.date(2016, 1, 4)
    for d in (dt.date(2025, 1, 2), dt.date(2025, 12, 31)):
        assert 756 <= len(cal.sessions_between(history_start(d, 756), d)) <= 756 + 253


def test_prefix_health_answers_like_validate_bars_every_session():
    settings = load_settings()
    bars = BundledBarsProvider().get_bars(["AAPL", "XOM", "SPY"], dt.date(2024, 1, 2), dt.date(2024, 3, 28))
    bars = bars.copy()
    # AAPL: a bad bar in February (excluded from then on); XOM: no bars after March 1 (stale)
    bars.loc[(bars["symbol"] == "AAPL") & (bars["date"] == pd.Timestamp("2024-02-14")), "close"] = -1.0
    bars = bars[~((bars["symbol"] == "XOM") & (bars["date"] > pd.Timestamp("2024-03-01")))]
    symbols = ["AAPL", "XOM", "SPY", "NOPE"]
    health = PrefixHealth(bars, symbols, dt.date(2024, 3, 28), settings.data.validation)
    changes = 0
    for day in cal.sessions_between(dt.date(2024, 1, 2), dt.date(2024, 3, 28)):
        full = validate_bars(bars, symbols, day, settings.data.validation)
        expected = dict(
            zip(
                full.loc[full["status"] == "excluded", "symbol"],
                full.loc[full["status"] == "excluded", "reason"],
                strict=True,
            )
        )
        assert health.excluded(day) == expected, day
        changes += "AAPL" in expected
    assert 0 < changes < 61  # AAPL excluded only from its bad bar on


def test_an_interrupted_replay_leaves_readable_partial_outputs(tmp_path):
    seen: list[dt.date] = []

    def stop_after_three(plan: Plan) -> None:
        seen.append(plan.session)
        if len(seen) == 3:
            raise KeyboardInterrupt

    out = tmp_path / "cut"
    result = replay(load_settings(), START, END, out, on_plan=stop_after_three)
    assert not result.complete and result.sessions_done == 3  # the third was recorded before on_plan stopped it
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["last_session"] == "2022-01-05"
    assert summary["sessions_done"] == 3 and summary["error"] is None
    equity = pd.read_csv(out / "equity.csv")
    assert len(equity) == 3
    pd.read_csv(out / "orders.csv")
    pd.read_csv(out / "events.csv")


def test_auto_resume_resumes_after_the_given_sessions_and_the_drawdown_restarts(tmp_path, monkeypatch):
    """With MAX_DRAWDOWN_PCT 2% the account halts in January 2022; --auto-resume 5 resumes it
    5 sessions later (as `risk resume` would), and buying starts again."""
    monkeypatch.setenv("MAX_DRAWDOWN_PCT", "2")
    out = tmp_path / "resume"
    replay(load_settings(), START, dt.date(2022, 2, 15), out, auto_resume=5)
    events = pd.read_csv(out / "events.csv")
    halts = events[events["kind"] == "risk_halted"]
    resumes = events[events["kind"] == "risk_resumed"]
    assert len(halts) >= 1 and len(resumes) >= 1
    first_halt, first_resume = (
        dt.date.fromisoformat(halts["session"].iloc[0]),
        dt.date.fromisoformat(resumes["session"].iloc[0]),
    )
    assert len(cal.sessions_between(first_halt, first_resume)) - 1 == 5
    equity = pd.read_csv(out / "equity.csv").set_index("session")
    assert not equity.loc[halts["session"].iloc[0], "buys_allowed"]
    # the peak restarts at the resume: $1,015.42 before, the equity of the session before after
    assert equity.loc["2022-01-24", "peak_equity"] == pytest.approx(1015.4219)
    assert equity.loc["2022-01-25", "peak_equity"] == equity.loc["2022-01-24", "equity"]
    # a resume that holds (no new 2% fall that day) trades again
    assert (equity.loc[resumes["session"], "risk_state"] == "ACTIVE").any()
    assert equity.loc[equity["risk_state"] == "ACTIVE", "buys"].loc["2022-01-25":].sum() > 0
    rules = pd.read_csv(out / "rules.csv")
    assert rules.query("rule == 'auto_resume'")["count"].iloc[0] == len(resumes)


def test_replay_refuses_bad_input_before_writing_anything(tmp_path, full_replay):
    settings = load_settings()
    with pytest.raises(ReplayError, match="is after --end"):
        replay(settings, END, START, tmp_path / "a")
    with pytest.raises(ReplayError, match="the data ends 2025-12-31; the replay asks up to 2026-03-01"):
        replay(settings, dt.date(2025, 12, 1), dt.date(2026, 3, 1), tmp_path / "b")
    with pytest.raises(ReplayError, match="the data starts 2016-01-04"):
        replay(settings, dt.date(2015, 6, 1), dt.date(2016, 3, 1), tmp_path / "b")
    with pytest.raises(ReplayError, match="MIN_CASH_BUFFER"):
        replay(settings, START, END, tmp_path / "c", capital=50)
    with pytest.raises(ReplayError, match="already holds a replay"):
        replay(settings, START, END, full_replay[0])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_replay_command_writes_the_report(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["replay", "--start", "2022-06-06", "--end", "2022-06-08", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "replay 2022-06-06 .. 2022-06-08: complete; 3 sessions" in printed
    html = (out / "replay.html").read_text()
    assert "<title>AlgoTrading replay cli</title>" in html
    for heading in ("Equity and drawdown", "Monthly returns", "Each strategy", "The rules at work", "Events", "Trades"):
        assert heading in html, heading
    assert html.count("Plotly.newPlot(") == 2
    assert main(["replay", "--start", "2022-06-08", "--end", "2022-06-06", "--out", str(tmp_path / "x")]) == 2


# ---------------------------------------------------------------- a crafted two-symbol market


def _crafted_bars() -> pd.DataFrame:
    """AAA and BBB at $50, SPY at $400, ^VIX at 15 from 2024-01-02; each day opens at the
    previous close. AAA dips and rises (a 3/6-session golden cross on 2024-05-17, close
    $53), holds $54, then closes at $45 on 2024-05-22; BBB does the same two weeks later."""
    from algotrading.data.bars import normalize_bars

    days = cal.sessions_between(dt.date(2024, 1, 2), dt.date(2024, 6, 28))
    d = dt.date

    def path(moves: list[tuple[dt.date, float]]) -> np.ndarray:
        close = np.full(len(days), 50.0)
        for day, value in moves:
            close[days.index(day) :] = value
        return close

    closes = {
        "AAA": path(
            [
                (d(2024, 5, 13), 49.0),
                (d(2024, 5, 14), 48.0),
                (d(2024, 5, 16), 52.0),
                (d(2024, 5, 17), 53.0),
                (d(2024, 5, 20), 54.0),
                (d(2024, 5, 22), 45.0),
            ]
        ),
        "BBB": path([(d(2024, 5, 28), 49.0), (d(2024, 5, 29), 48.0), (d(2024, 5, 31), 52.0), (d(2024, 6, 3), 53.0)]),
        "SPY": np.full(len(days), 400.0),
        "^VIX": np.full(len(days), 15.0),
    }
    rows = []
    for symbol, close in closes.items():
        opens = np.concatenate([[close[0]], close[:-1]])
        for k, day in enumerate(days):
            volume = 0.0 if symbol == "^VIX" else 1e6 * (2 if day in (d(2024, 5, 16), d(2024, 5, 31)) else 1)
            rows.append(
                {
                    "date": pd.Timestamp(day),
                    "symbol": symbol,
                    "open": opens[k],
                    "high": max(opens[k], close[k]),
                    "low": min(opens[k], close[k]),
                    "close": close[k],
                    "volume": volume,
                }
            )
    return normalize_bars(pd.DataFrame(rows))


class _Crafted:
    name = "crafted"

    def __init__(self, bars: pd.DataFrame) -> None:
        self.bars = bars

    def unavailable(self, symbols):  # noqa: ANN001, ANN201
        return {}

    def get_bars(self, symbols, start, end):  # noqa: ANN001, ANN201
        b = self.bars
        keep = b["symbol"].isin(symbols) & (b["date"] >= pd.Timestamp(start)) & (b["date"] <= pd.Timestamp(end))
        return b[keep].reset_index(drop=True)


def test_a_crafted_two_symbol_replay_matches_the_hand_computed_fills_stop_and_halt(workdirs, monkeypatch, tmp_path):
    """Golden Cross alone (SMA3/SMA6, 10% stop) on AAA and BBB, 0.1% fees, no slippage,
    MAX_DRAWDOWN_PCT 2%. By hand:

    * 05-17: AAA crosses (close $53): buy $300 (the cap: 30% of $1,000; one signal);
    * 05-20: filled at the open $53: 300 / 53 = 5.660377 shares, fee $0.30, cash $699.70;
      equity at the $54 close 699.70 + 5.660377 x 54 = $1,005.36 (the peak);
    * 05-22: close $45 <= stop 53 x 0.9 = $47.70: sell; equity 699.70 + 5.660377 x 45 =
      $954.42, 5.07% below the peak: HALTED the same session (the stop still goes out);
    * 05-23: sold at the open $45: $254.72 - fee $0.25 -> cash and equity $954.16;
    * 06-03: BBB crosses, but HALTED blocks the buy; nothing else happens.
    """
    import yaml

    def edit(name: str, **changes: object) -> None:
        path = workdirs["params"] / name
        path.write_text(yaml.safe_dump(yaml.safe_load(path.read_text()) | changes))

    edit("universe.yaml", groups={"broad_etfs": ["SPY"], "stocks": ["AAA", "BBB"]})
    edit(
        "strategies/golden_cross.yaml",
        groups=["stocks"],
        fast_window=3,
        slow_window=6,
        min_history_sessions=7,
        cross_within_sessions=1,
        volume_window=3,
        stop_loss_pct=10,
    )
    edit("strategies/mean_reversion.yaml", enabled=False, groups=["stocks"])
    edit("strategies/sector_rotation.yaml", enabled=False, groups=["stocks"])
    edit("strategies/dual_momentum.yaml", enabled=False, assets=["SPY"], defensive_asset=None)
    edit("backtest.yaml", warmup_sessions=0, fees_pct=0.1, slippage_pct=0.0)
    monkeypatch.setenv("MIN_MOMENTUM_THRESHOLD", "-0.5")  # the strategy's own book is flat before its first trade
    monkeypatch.setenv("MAX_DRAWDOWN_PCT", "2")
    out = tmp_path / "crafted"
    result = replay(load_settings(), dt.date(2024, 5, 1), dt.date(2024, 6, 14), out, provider=_Crafted(_crafted_bars()))
    assert result.complete and result.sessions_done == 32

    orders = pd.read_csv(out / "orders.csv")
    assert orders[["session", "side", "symbol", "kind", "status", "fill_session"]].values.tolist() == [
        ["2024-05-17", "buy", "AAA", "entry", "filled", "2024-05-20"],
        ["2024-05-22", "sell", "AAA", "stop", "filled", "2024-05-23"],
    ]
    buy, sell = orders.iloc[0], orders.iloc[1]
    shares = 300 / 53
    assert buy["notional"] == 300.0 and buy["fill_price"] == 53.0
    assert buy["filled_qty"] == pytest.approx(shares, abs=1e-9) and buy["fee"] == pytest.approx(0.30)
    assert sell["fill_price"] == 45.0 and sell["filled_qty"] == pytest.approx(shares, abs=1e-9)
    assert sell["fee"] == pytest.approx(shares * 45 * 0.001)

    equity = pd.read_csv(out / "equity.csv").set_index("session")
    assert equity.loc["2024-05-17", ["equity", "cash"]].tolist() == [1000.0, 1000.0]
    assert equity.loc["2024-05-20", "cash"] == pytest.approx(699.70, abs=1e-4)
    assert equity.loc["2024-05-20", "equity"] == pytest.approx(699.70 + shares * 54, abs=1e-4)
    peak = 699.70 + shares * 54
    assert equity.loc["2024-05-22", "equity"] == pytest.approx(699.70 + shares * 45, abs=1e-4)
    assert equity.loc["2024-05-22", "drawdown"] == pytest.approx(1 - (699.70 + shares * 45) / peak, abs=1e-6)
    assert equity.loc["2024-05-21", "risk_state"] == "ACTIVE" and equity.loc["2024-05-22", "risk_state"] == "HALTED"
    final = 699.70 + shares * 45 * (1 - 0.001)
    assert equity.loc["2024-06-14", ["cash", "equity"]].tolist() == pytest.approx([final, final], abs=1e-4)
    assert (equity.loc["2024-05-23":, "positions"] == 0).all()

    events = pd.read_csv(out / "events.csv")
    assert events[["session", "kind", "symbol"]].fillna("").values.tolist() == [
        ["2024-05-22", "risk_halted", ""],
        ["2024-05-22", "stop", "AAA"],
    ]
    assert "stop loss: the close $45.00 is at or below the stop $47.70" in events["detail"].iloc[1]
    from algotrading.replay.views import load, sessions_note

    # "complete" is not the whole story: the summary says how long it sat halted in cash, and why
    assert sessions_note(load(out)) == (
        "HALTED on 17 of 32 sessions, first on 2024-05-22 (drawdown 5.1% from the peak $1,005.36 reached "
        "MAX_DRAWDOWN_PCT 2%: new buys halted until `algotrading risk resume --reason ...`); no position was held "
        "on 29 of 32 sessions (all in cash)."
    )  # 2024-05-22 .. 2024-06-14 is 17 sessions; one position held from the first buy's fill to the stop
    rules = pd.read_csv(out / "rules.csv")
    assert rules[["layer", "rule", "action", "count"]].values.tolist() == [
        ["exits", "stop", "triggered", 1],
        ["risk", "halted", "blocked", 1],
        ["risk", "halted", "triggered", 1],
    ]


def test_the_replay_s_lighter_garbage_collector_is_undone_when_it_ends():
    """Within a replay, full collections are rarer and what exists after its first
    session is frozen; the block's end restores the thresholds and unfreezes."""
    import gc

    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with engine._lighter_collector() as freeze:
        assert gc.get_threshold() == (before[0], before[1], before[2] * engine.FULL_COLLECTION_EVERY)
        freeze()
        assert gc.get_freeze_count() > frozen
        freeze()  # once only
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
