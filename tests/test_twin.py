"""A paper twin beside a live account (issue 18 point 2): the accounts file's twin_of, the
order accounts run in, the comparison of two ledgers built through the store's own API
(slippage worked out by hand below), what the report and the email show, and an end-to-end
run of a live account and its paper twin against the local Alpaca server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html
import json
import shutil
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

from algotrading import calendar as cal
from algotrading.cli import main
from algotrading.config import load_settings
from algotrading.daily import artifacts
from algotrading.daily.accounts import AccountsFile, account_environment, load_accounts, twin_for
from algotrading.daily.twin import Twin, TwinComparison, compare
from algotrading.decisions.plan import Plan, PlanOrder, make_plan
from algotrading.jobs.daily import _compare_twin
from algotrading.paths import Paths
from algotrading.portfolio import Portfolio
from algotrading.report.twin_views import details_html, headline, summary_html, twin_lines
from algotrading.storage.store import FILE_NAME, open_store

from .alpaca_server import FakeAlpaca
from .helpers import phone_width
from .planning import buy, inputs
from .test_submit_e2e import submit_account

LIVE = {"name": "real", "mode": "live", "api_key_env": "K_REAL", "secret_key_env": "S_REAL"}
PAPER = {"name": "shadow", "mode": "paper", "api_key_env": "K_SHADOW", "secret_key_env": "S_SHADOW"}


def _write(params: Path, accounts: list[dict]) -> None:
    (params / "accounts.yaml").write_text(yaml.safe_dump({"accounts": accounts}))


# -- the accounts file ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accounts", "expected"),
    [
        (
            [LIVE, PAPER | {"twin_of": "reel"}],
            "account 'shadow', field 'twin_of' = 'reel': no account is named 'reel'. Fix: name a live account of "
            "this file (real), or remove it.",
        ),
        (
            [LIVE, PAPER | {"name": "other"}, PAPER | {"twin_of": "other"}],
            "account 'shadow', field 'twin_of' = 'other': 'other' is a paper account: a paper twin shadows a live "
            "account. Fix: name a live account of this file (real), or remove twin_of.",
        ),
        (
            [LIVE, PAPER | {"twin_of": "real"}, PAPER | {"name": "second", "twin_of": "real"}],
            "account 'second', field 'twin_of' = 'real': 'real' has a paper twin already ('shadow'): a live account "
            "has one twin at most. Fix: remove twin_of from 'shadow' or 'second'.",
        ),
        (
            [LIVE, {"name": "sandbox", "mode": "demo", "twin_of": "real"}],
            "account 'sandbox', field 'twin_of' = 'real': only a paper account can be a twin, and 'sandbox' is demo. "
            "Fix: set mode: paper (with its paper keys), or remove twin_of.",
        ),
        (
            [LIVE, LIVE | {"name": "real2", "twin_of": "real"}],
            "account 'real2', field 'twin_of' = 'real': only a paper account can be a twin, and 'real2' is live.",
        ),
    ],
    ids=["unknown", "of-a-paper-account", "two-twins", "demo-twin", "live-twin"],
)
def test_a_bad_twin_of_exits_2_naming_the_account_the_field_and_the_fix(
    workdirs, capsys, monkeypatch, accounts, expected
):
    monkeypatch.setenv("PRODUCTION_MODE", "true")  # live accounts are allowed: only twin_of is wrong
    _write(workdirs["params"], accounts)
    assert main(["daily", "--date", "2024-01-02"]) == 2
    err = capsys.readouterr().err
    assert f"params/accounts.yaml: {expected}" in err
    assert not workdirs["reports"].exists() or not any(workdirs["reports"].iterdir())


def test_each_twin_runs_right_before_its_live_account(workdirs, monkeypatch):
    monkeypatch.setenv("PRODUCTION_MODE", "true")
    sandbox = {"name": "sandbox", "mode": "demo"}
    _write(workdirs["params"], [LIVE, sandbox, PAPER | {"twin_of": "real"}])
    accounts = load_accounts(workdirs["params"])
    assert accounts is not None
    assert [a.name for a in accounts.run_order()] == ["shadow", "real", "sandbox"]
    base = Paths.from_env()
    assert twin_for(accounts.accounts[0], accounts, base) == Twin(
        "real", "shadow", base.state_dir / "shadow", base.reports_dir / "shadow"
    )
    assert twin_for(accounts.accounts[1], accounts, base) is None  # no twin: nothing is compared
    assert AccountsFile.model_validate({"accounts": [LIVE, sandbox]}).run_order()[0].name == "real"


def test_a_paper_account_beside_a_live_one_runs_with_production_mode_off(workdirs, monkeypatch):
    """PRODUCTION_MODE=true is the live accounts' switch; the paper twin's own readiness check
    would otherwise tell it to turn the switch off, which would stop the live account."""
    for name, value in {"PRODUCTION_MODE": "true", "K_REAL": "k1", "S_REAL": "s1", "K_SHADOW": "k2"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("S_SHADOW", "s2")
    _write(workdirs["params"], [LIVE, PAPER | {"twin_of": "real"}])
    accounts = load_accounts(workdirs["params"])
    assert accounts is not None
    live, paper = (account_environment(a, accounts, Paths.from_env()) for a in accounts.accounts)
    assert (live["PRODUCTION_MODE"], live["PAPER_TRADING_MODE"]) == ("true", "false")
    assert (paper["PRODUCTION_MODE"], paper["PAPER_TRADING_MODE"]) == ("false", "true")


# -- the comparison, from two ledgers built through the store's API --------------------------

START, PREVIOUS, TODAY = dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)


def _plan(session: dt.date, orders: list[tuple[str, str, float | None, float | None, float]], **changes) -> Plan:
    """A real plan (decisions.plan) with ``orders`` (side, symbol, notional, qty, price) and
    ``changes`` (signals, portfolio) in place of its own."""
    base = make_plan(inputs([buy("AAA", price=20.0)]), "2024-01-01T21:00:00+00:00")
    made = tuple(
        PlanOrder(
            symbol,
            side,
            notional,
            qty,
            "golden_cross",
            f"at-{session}-{side}-{symbol}-x",
            "entry" if side == "buy" else "exit_signal",
            "test",
            price,
            notional if notional is not None else (qty or 0.0) * price,
            est_shares=(notional / price) if notional is not None else qty,
        )
        for side, symbol, notional, qty, price in orders
    )
    return dataclasses.replace(base, session=session, orders=made, **changes)


def _intent(store, session: dt.date, side: str, symbol: str, notional=None, qty=None, **outcome) -> None:
    cid = f"at-{session}-{side}-{symbol}-{notional}-{qty}"
    row = {"client_order_id": cid, "session_date": session.isoformat(), "symbol": symbol, "side": side}
    store.add_intents([row | {"notional": notional, "qty": qty, "kind": "entry", "est_price": 100.0}])
    store.update_intent(cid, **outcome)


def _ledgers(tmp_path: Path, twin_ran: bool = True) -> tuple[Path, Twin]:
    """Two accounts' state as three evenings of real runs would leave it (by hand):

    equity: live $1,000 / $1,010 / $1,005, paper $2,000 / $2,030 / $2,040 (2024-01-02..04);
    the 2024-01-02 plan: BUY QQQ, filled on both sides; the 2024-01-03 plan: BUY SBUX and
    SELL ABBV filled on both, BUY HON rejected live, BUY IWM only in the paper plan, BUY XLE
    partly filled live; before the pair started (2023-12-29) a live order that is not compared."""
    live_dir, paper_dir = tmp_path / "state" / "real", tmp_path / "state" / "shadow"
    twin = Twin("real", "shadow", paper_dir, tmp_path / "reports" / "shadow")
    with open_store(live_dir) as live, open_store(paper_dir) as paper:
        for store, equities in ((live, (1000, 1010, 1005)), (paper, (2000, 2030, 2040))):
            for day, equity in zip((START, PREVIOUS, TODAY), equities, strict=True):
                if store is paper and day == TODAY and not twin_ran:
                    continue
                store.record_equity(day, equity, 0.0, "alpaca")
        live.record_equity(dt.date(2023, 12, 29), 990.0, 0.0, "alpaca")  # before the twin: not the base
        _intent(live, dt.date(2023, 12, 29), "buy", "SPY", 100.0, status="filled", filled_qty=0.2, filled_avg_price=500)
        _intent(live, START, "buy", "QQQ", 400.0, status="filled", filled_qty=1.0, filled_avg_price=400.40)
        _intent(paper, START, "buy", "QQQ", 800.0, status="filled", filled_qty=2.0, filled_avg_price=400.00)
        _intent(live, PREVIOUS, "buy", "SBUX", 150.0, status="filled", filled_qty=1.5, filled_avg_price=100.30)
        _intent(paper, PREVIOUS, "buy", "SBUX", 300.0, status="filled", filled_qty=3.0, filled_avg_price=100.10)
        _intent(live, PREVIOUS, "sell", "ABBV", qty=2.0, status="filled", filled_qty=2.0, filled_avg_price=150.00)
        _intent(paper, PREVIOUS, "sell", "ABBV", qty=4.0, status="filled", filled_qty=4.0, filled_avg_price=150.45)
        _intent(live, PREVIOUS, "buy", "HON", 100.0, status="rejected", detail="insufficient buying power")
        _intent(paper, PREVIOUS, "buy", "HON", 200.0, status="filled", filled_qty=1.0, filled_avg_price=200.00)
        _intent(paper, PREVIOUS, "buy", "IWM", 200.0, status="filled", filled_qty=1.0, filled_avg_price=199.00)
        _intent(live, PREVIOUS, "buy", "XLE", qty=2.0, status="canceled", filled_qty=1.0, filled_avg_price=90.10)
        _intent(paper, PREVIOUS, "buy", "XLE", qty=2.0, status="filled", filled_qty=2.0, filled_avg_price=90.00)
        if twin_ran:
            paper.start_run("twin-run", TODAY, "paper")
            paper.finish_run("twin-run", "ok")
    # the live plan of 2024-01-03 had no IWM order: its signal was rejected (the reason shows)
    signal = {"symbol": "IWM", "strategy": "golden_cross", "action": "BUY", "decision": "rejected"}
    reasons = {"reasons": ["$40.00 is below MIN_POSITION_SIZE $50.00"], "confidence": 0.8, "score": 0.5}
    folder = tmp_path / "reports" / "real" / PREVIOUS.isoformat()
    folder.mkdir(parents=True)
    artifacts.write_plan(folder, _plan(PREVIOUS, [("buy", "SBUX", 150.0, None, 100.0)], signals=[signal | reasons]))
    folder = twin.reports_dir / TODAY.isoformat()
    folder.mkdir(parents=True)
    paper_today = [
        ("sell", "QQQ", None, 2.0, 410.0),
        ("buy", "MSFT", 300.0, None, 375.0),
        ("buy", "AAPL", 200.0, None, 185.0),
    ]
    artifacts.write_plan(folder, _plan(TODAY, paper_today))
    return live_dir, twin


LIVE_TODAY = [("sell", "QQQ", None, 1.0, 410.0), ("buy", "MSFT", 150.0, None, 375.0)]


def _compare(tmp_path: Path, twin: Twin, live_dir: Path) -> TwinComparison:
    plan = _plan(TODAY, LIVE_TODAY, portfolio=Portfolio(TODAY, 100.0, ()))
    with open_store(live_dir) as live:
        return compare(live, tmp_path / "reports" / "real", twin, TODAY, plan)


def test_the_comparison_computes_slippage_per_share_in_bps_and_for_the_live_shares(tmp_path):
    live_dir, twin = _ledgers(tmp_path)
    paper_db = twin.state_dir / FILE_NAME
    before = hashlib.sha256(paper_db.read_bytes()).hexdigest()
    c = _compare(tmp_path, twin, live_dir)
    assert hashlib.sha256(paper_db.read_bytes()).hexdigest() == before  # the twin's state is only read
    assert (c.state, c.start, c.twin_ran) == ("ok", "2024-01-02", True)

    rows = {(o.session, o.side, o.symbol): o for o in c.orders}
    assert list(rows) == [  # sessions in order, sells first; nothing before the pair started
        ("2024-01-02", "buy", "QQQ"),
        ("2024-01-03", "sell", "ABBV"),
        ("2024-01-03", "buy", "HON"),
        ("2024-01-03", "buy", "IWM"),
        ("2024-01-03", "buy", "SBUX"),
        ("2024-01-03", "buy", "XLE"),
    ]
    # by hand: a buy costs live - paper per share, a sell paper - live; bps of the paper price
    qqq = rows[("2024-01-02", "buy", "QQQ")]  # 400.40 vs 400.00, 1 live share
    assert qqq.slippage_per_share == pytest.approx(0.40)
    assert qqq.slippage_bps == pytest.approx(10.0)
    assert qqq.slippage_total == pytest.approx(0.40)
    sbux = rows[("2024-01-03", "buy", "SBUX")]  # 100.30 vs 100.10, 1.5 live shares
    assert (sbux.live.filled_qty, sbux.live.avg_price, sbux.paper.filled_qty, sbux.paper.avg_price) == (
        1.5,
        100.30,
        3.0,
        100.10,
    )
    assert sbux.slippage_per_share == pytest.approx(0.20)
    assert sbux.slippage_bps == pytest.approx(0.20 / 100.10 * 10_000, abs=1e-6)  # 19.98 bp
    assert sbux.slippage_total == pytest.approx(0.30)
    abbv = rows[("2024-01-03", "sell", "ABBV")]  # sold live at 150.00, paper at 150.45: live got 0.45 less
    assert abbv.slippage_per_share == pytest.approx(0.45)
    assert abbv.slippage_bps == pytest.approx(0.45 / 150.45 * 10_000, abs=1e-6)  # 29.91 bp
    assert abbv.slippage_total == pytest.approx(0.90)
    xle = rows[("2024-01-03", "buy", "XLE")]  # 1 of 2 live shares filled, the rest canceled
    assert xle.live.fate == "partially_filled" and xle.slippage_total == pytest.approx(0.10)
    assert xle.note == "live partially filled: compared over the shares filled so far"
    # one side only: shown, never dropped
    hon = rows[("2024-01-03", "buy", "HON")]
    assert hon.slippage_total is None and hon.live.fate == "rejected" and hon.paper.fate == "filled"
    assert hon.note == "filled on the paper side only; live: rejected by the broker: insufficient buying power"
    iwm = rows[("2024-01-03", "buy", "IWM")]
    assert iwm.live.fate == "not_planned" and iwm.live.planned is None
    assert iwm.note == (
        "filled on the paper side only; live: not in its plan: rejected: $40.00 is below MIN_POSITION_SIZE $50.00"
    )
    # totals: 0.40 + 0.30 + 0.90 + 0.10 = $1.70 over what the live shares cost at paper prices
    # (1 x 400.00 + 1.5 x 100.10 + 2 x 150.45 + 1 x 90.00 = $941.05): 18.06 bp
    assert len(c.compared) == 4
    assert c.slippage_total == pytest.approx(1.70)
    assert c.slippage_bps == pytest.approx(1.70 / 941.05 * 10_000)
    assert c.fills_session == "2024-01-03" and len(c.latest_fills) == 5

    # equity: returns since 2024-01-02 (the first session both recorded), live - paper
    drift = {d.session: d for d in c.drift}
    assert list(drift) == ["2024-01-02", "2024-01-03", "2024-01-04"]
    assert drift["2024-01-03"].live_return == pytest.approx(0.01)
    assert drift["2024-01-03"].paper_return == pytest.approx(0.015)
    assert drift["2024-01-04"].live_return == pytest.approx(0.005)
    assert drift["2024-01-04"].paper_return == pytest.approx(0.02)
    assert drift["2024-01-04"].drift == pytest.approx(-0.015)

    # the plans for the next open side by side (the sizes differ: per account, not compared in $)
    plan = {(o.side, o.symbol): o for o in c.plan}
    assert list(plan) == [("sell", "QQQ"), ("buy", "AAPL"), ("buy", "MSFT")]
    assert (plan[("sell", "QQQ")].live.planned, plan[("sell", "QQQ")].paper.planned) == ("1 shares", "2 shares")
    assert (plan[("buy", "MSFT")].live.planned, plan[("buy", "MSFT")].paper.planned) == ("$150.00", "$300.00")
    aapl = plan[("buy", "AAPL")]
    assert aapl.live.fate == "not_planned" and aapl.paper.fate == "planned"
    assert aapl.note == "in the paper plan only; live: not in its plan: no BUY signal for it on this side"
    assert c.notes == []

    again = TwinComparison.from_json(c.to_json())  # what twin.json holds reads back the same
    assert again == c


def test_the_section_shows_the_numbers_and_every_gap(tmp_path):
    live_dir, twin = _ledgers(tmp_path)
    c = _compare(tmp_path, twin, live_dir)
    page = summary_html(c) + details_html(c)
    assert page.startswith("<h2>Paper twin</h2><p>Compared with <b>shadow</b>, the paper twin of this account, since")
    assert "<th>Live return since 2024-01-02</th><td>+0.50% ($1,005.00)</td>" in page
    assert "<th>Paper return</th><td>+2.00% ($2,040.00)</td>" in page
    assert "<th>Drift (live - paper)</th><td>-1.50 percentage points</td>" in page
    assert "+$1.70 (+18.1 bp) on 4 order(s) filled on both sides" in page
    assert "<h3>Fills of the 2024-01-03 plan</h3>" in page
    assert "1.5 sh at $100.30" in page and "3 sh at $100.10" in page
    assert "+$0.20/sh<br><span style='font-size:11px;color:#555;'>+20.0 bp, +$0.30</span>" in page
    assert "<b>BUY HON</b>: filled on the paper side only; live: rejected by the broker: insufficient" in page
    assert "not in its plan" in page and "The live orders go out after this report." in page
    lines = twin_lines(c)
    assert lines[0] == "PAPER TWIN (shadow, since 2024-01-02)"
    assert "  Return since 2024-01-02: live +0.50%, paper +2.00%, drift -1.50 percentage points" in lines
    assert "  Slippage live vs paper: +$1.70 (+18.1 bp) on 4 order(s) filled on both sides" in lines
    assert "    BUY  SBUX   1.5 sh at $100.30 | 3 sh at $100.10 | +$0.20/sh, +20.0 bp, +$0.30" in lines
    assert "    BUY  AAPL   not in its plan | $200.00" in lines
    assert headline(c) == (
        "paper twin 'shadow' since 2024-01-02: live +0.50%, paper +2.00%, drift -1.50 percentage points; "
        "4 fill(s) compared, slippage +$1.70 (+18.1 bp)"
    )


def test_a_twin_that_did_not_run_today_is_said_and_its_side_is_missing(tmp_path):
    live_dir, twin = _ledgers(tmp_path, twin_ran=False)
    c = _compare(tmp_path, twin, live_dir)
    assert c.state == "ok" and not c.twin_ran
    assert c.notes[0].startswith("The paper twin 'shadow' has no successful run for 2024-01-04")
    assert "No equity recorded by the paper twin on 2024-01-04 (no run that session)" in c.notes[1]
    assert c.drift[-1].paper_equity is None and c.drift[-1].drift is None
    plan = {(o.side, o.symbol): o for o in c.plan}
    assert set(plan) == {("sell", "QQQ"), ("buy", "MSFT")}
    assert plan[("buy", "MSFT")].paper.fate == "no_plan"
    assert plan[("buy", "MSFT")].note == (
        "in the live plan only; paper: no plan of 2024-01-04 recorded (no successful run that session, or its "
        "plan.json cannot be read)"
    )
    assert "n/a on 2024-01-04 (one side only)" in summary_html(c)


def test_a_twin_without_state_or_with_a_damaged_one_is_said(tmp_path):
    live_dir = tmp_path / "state" / "real"
    open_store(live_dir).close()
    twin = Twin("real", "shadow", tmp_path / "state" / "shadow", tmp_path / "reports" / "shadow")
    c = _compare(tmp_path, twin, live_dir)
    assert c.state == "missing" and c.notes[0].startswith("The paper twin 'shadow' has no state yet")
    assert "its first run creates it" in summary_html(c) and details_html(c) == ""
    twin.state_dir.mkdir(parents=True)
    (twin.state_dir / FILE_NAME).write_bytes(b"not a database, but not empty either" * 100)
    c = _compare(tmp_path, twin, live_dir)
    assert c.state == "unreadable" and c.notes[0].startswith("The paper twin's state could not be read:")
    assert twin_lines(c)[1].startswith("  The paper twin's state could not be read:")


def test_a_comparison_that_fails_is_said_in_the_section_and_the_run_goes_on(tmp_path, caplog):
    live_dir, twin = _ledgers(tmp_path)
    staging = tmp_path / "staging"  # the live run's folder, its plan.json cut short
    staging.mkdir()
    (staging / artifacts.PLAN).write_text('{"session_date": "2024-01-04", "orders": [')
    with open_store(live_dir) as store:
        _compare_twin(load_settings(), store, twin, TODAY, staging)
    c = TwinComparison.from_json(json.loads((staging / artifacts.TWIN).read_text()))
    assert c.state == "failed" and c.notes[0].startswith(
        "The comparison with the paper twin 'shadow' could not be made:"
    )
    assert "plan.json is damaged" in c.notes[0] and "the comparison with the paper twin 'shadow' failed" in caplog.text
    assert summary_html(c).endswith(f"<ul><li>{html.escape(c.notes[0])}</li></ul>") and details_html(c) == ""


# -- end to end: a live account and its paper twin, two evenings --------------------------------

LIVE_KEY, LIVE_SECRET = "AKLIVETESTKEY000001", "live-secret-0000000000000000000000000001"
DAY1, DAY2 = dt.date(2022, 3, 1), dt.date(2022, 3, 2)


def _paper_history(workdirs: dict[str, Path], sessions: int) -> None:
    """The live account's transition record: ``sessions`` clean paper sessions before DAY1
    (run successfully, email delivered, nothing unexplained), as its own earlier paper runs
    leave them in its ledger: what `validate --live` asks before real money."""
    with open_store(workdirs["state"] / "real") as store:
        for day in cal.session_window(cal.previous_session(DAY1), sessions):
            store.start_run(f"paper-{day}", day, "paper")
            store.finish_run(f"paper-{day}", "ok")
            store.save_email(f"daily-{day}", day, "daily", f"AlgoTrading Daily Signals - {day}", "-", "sent")
            folder = workdirs["reports"] / "real" / day.isoformat()
            folder.mkdir(parents=True)
            (folder / artifacts.PORTFOLIO).write_text(json.dumps({"reconciliation": []}))


def _today_bar(fake: FakeAlpaca) -> None:
    """The benchmark's (and ^VIX's) bar of today's latest completed session, which the live
    checks ask the data feed for (the run itself trades on 2022's bundled bars)."""
    latest = cal.latest_completed_session(dt.datetime.now(dt.UTC))
    last = fake.bars[fake.bars["symbol"].isin(["SPY", "^VIX"])].groupby("symbol").tail(1)
    fake.bars = pd.concat([fake.bars, last.assign(date=pd.Timestamp(latest))], ignore_index=True)


def _prices(fake: FakeAlpaca, day: dt.date, column: str) -> dict[str, float]:
    """Each symbol's ``column`` (open, close) on ``day`` in the server's bars."""
    rows = fake.bars[fake.bars["date"] == pd.Timestamp(day)]
    return dict(zip(rows["symbol"], rows[column].astype(float), strict=True))


@pytest.mark.slow
def test_a_live_account_and_its_paper_twin_compare_their_fills_in_the_live_report(
    workdirs, monkeypatch, capsys, smtp, crontab, tmp_path
):
    """Two evenings of `algotrading daily` for a live account and its paper twin, each at its
    own account of the local Alpaca server. The first sends both plans (the live one through
    the real gate: PRODUCTION_MODE, `validate --live` passing, --confirm-live); the server
    fills them at the next open, the live fills 10 bp worse and one live buy not at all; the
    second evening's live report and email compare the two."""
    from .test_email import configure

    fake = submit_account(monkeypatch)  # the twin's paper account, the bundled bars, the clock after DAY1's close
    try:
        live = fake.add_account(LIVE_KEY, LIVE_SECRET, "3LIVEACCT01")
        _today_bar(fake)
        configure(workdirs, monkeypatch, smtp)
        for name, value in {
            "K_REAL": LIVE_KEY,
            "S_REAL": LIVE_SECRET,
            "K_SHADOW": fake.key,
            "S_SHADOW": fake.secret,
            "PRODUCTION_MODE": "true",
        }.items():
            monkeypatch.setenv(name, value)
        _write(workdirs["params"], [LIVE, PAPER | {"twin_of": "real"}])  # the live account first in the file
        _paper_history(workdirs, 10)
        assert main(["schedule", "install", "--submit"]) == 0
        assert "--submit --confirm-live" in crontab.read_text()
        capsys.readouterr()

        # evening 1: both plans sent; the twin ran first
        assert main(["daily", "--date", DAY1.isoformat(), "--submit", "--confirm-live"]) == 0, capsys.readouterr()
        out = capsys.readouterr().out
        assert out.index("shadow: OK") < out.index("real: OK"), out
        live_plan = json.loads((workdirs["reports"] / "real" / DAY1.isoformat() / "plan.json").read_text())
        paper_plan = json.loads((workdirs["reports"] / "shadow" / DAY1.isoformat() / "plan.json").read_text())
        assert live_plan["mode"] == "live" and live_plan["limits"]["ramp_note"].startswith("live ramp: live session 1")
        assert paper_plan["mode"] == "paper"
        assert {o["symbol"] for o in live_plan["orders"]} == {o["symbol"] for o in paper_plan["orders"]}
        assert len(live.orders) == len(fake.orders) == len(paper_plan["orders"]) == 4  # each at its own account
        twin_day1 = TwinComparison.from_json(
            json.loads((workdirs["reports"] / "real" / DAY1.isoformat() / "twin.json").read_text())
        )
        assert twin_day1.start == DAY1.isoformat() and twin_day1.orders == [] and len(twin_day1.plan) == 4
        assert not (workdirs["reports"] / "shadow" / DAY1.isoformat() / "twin.json").exists()

        # the next open: paper fills at the open, live 10 bp worse, the last live buy expires unfilled
        opens = _prices(fake, DAY2, "open")
        buys = sorted(o["symbol"] for o in live_plan["orders"] if o["side"] == "buy")
        for o in list(fake.orders.values()):
            fake.fill(o["client_order_id"], opens[o["symbol"]])
        for o in list(live.orders.values()):
            if o["symbol"] == buys[-1]:
                o["status"] = "expired"
            else:
                live.fill(o["client_order_id"], round(opens[o["symbol"]] * 1.001, 4))
        filled = {o["symbol"]: o for o in live.orders.values() if o["status"] == "filled"}
        closes = _prices(fake, DAY2, "close")
        for account in (fake, live):  # the accounts' positions at DAY2's close: equity moves apart
            for symbol, position in account.positions.items():
                position["price"] = closes[symbol]

        # evening 2: the live report compares the fills
        fake.clock_at = dt.datetime(2022, 3, 2, 17, 0, tzinfo=cal.NY)
        assert main(["daily", "--date", DAY2.isoformat()]) == 0, capsys.readouterr()
        folder = workdirs["reports"] / "real" / DAY2.isoformat()
        c = TwinComparison.from_json(json.loads((folder / "twin.json").read_text()))
        assert (c.state, c.start, c.twin_ran, c.fills_session) == ("ok", "2022-03-01", True, "2022-03-01")
        rows = {o.symbol: o for o in c.orders}
        assert set(rows) == set(buys)
        for symbol, order in filled.items():  # by hand, from what the two accounts filled
            paid, paper_price = float(order["filled_avg_price"]), opens[symbol]
            qty = float(order["filled_qty"])
            row = rows[symbol]
            assert (row.live.filled_qty, row.live.avg_price) == (pytest.approx(qty), paid)
            assert row.paper.avg_price == paper_price and row.paper.fate == "filled"
            assert row.slippage_per_share == pytest.approx(paid - paper_price, abs=1e-6)
            assert row.slippage_bps == pytest.approx((paid - paper_price) / paper_price * 10_000, abs=1e-4)
            assert row.slippage_bps == pytest.approx(10.0, abs=0.05)  # 10 bp, but for the cent rounding
            assert row.slippage_total == pytest.approx((paid - paper_price) * qty, abs=1e-6)
        expired = rows[buys[-1]]
        assert expired.slippage_total is None and expired.live.fate == "expired"
        assert expired.note == "filled on the paper side only; live: expired unfilled at the end of the day"
        expected = sum((float(o["filled_avg_price"]) - opens[s]) * float(o["filled_qty"]) for s, o in filled.items())
        assert c.slippage_total == pytest.approx(expected, abs=1e-6) and len(c.compared) == 3
        assert [d.session for d in c.drift] == ["2022-03-01", "2022-03-02"]
        day2 = c.drift[-1]
        equity = json.loads((folder / "portfolio.json").read_text())["equity"]  # to the cent
        assert c.drift[0].live_equity == 1000.0 and day2.live_equity == pytest.approx(equity, abs=0.005)
        assert day2.live_return == pytest.approx(day2.live_equity / 1000.0 - 1)
        assert day2.paper_return == pytest.approx(day2.paper_equity / c.drift[0].paper_equity - 1)
        assert day2.drift == pytest.approx(day2.live_return - day2.paper_return)

        # the report and the email show it; the twin's own report has no such section
        assert "<h2>Paper twin</h2>" in (folder / "report.html").read_text()
        assert "Paper twin" not in (workdirs["reports"] / "shadow" / DAY2.isoformat() / "report.html").read_text()
        msg = BytesParser(policy=policy.default).parsebytes((folder / "email.eml").read_bytes())
        html = msg.get_body(("html",)).get_content()
        assert "<h2" in html and ">Paper twin</h2>" in html and "Fills of the 2022-03-01 plan</h3>" in html
        text = msg.get_body(("plain",)).get_content()
        assert "PAPER TWIN (shadow, since 2022-03-01)" in text
        assert "filled on the paper side only; live: expired unfilled at the end of the day" in text
        delivered = [m for m in smtp.messages if "2022-03-02" in str(m.message["Subject"])]
        assert len(delivered) == 2  # both accounts' plans went out
        if shutil.which("chromium"):
            assert phone_width(folder / "email.html", tmp_path) <= 390
    finally:
        fake.stop()


def test_a_fill_without_its_quantity_is_one_row_not_a_failed_comparison(tmp_path):
    """A broker row with a fill price but no filled quantity (the column may be NULL): the
    order is compared as not filled on that side; the comparison itself does not fail."""
    live_dir, twin = _ledgers(tmp_path)
    with open_store(live_dir) as live, open_store(twin.state_dir) as paper:
        _intent(live, PREVIOUS, "buy", "KO", 100.0, status="filled", filled_qty=None, filled_avg_price=60.0)
        _intent(paper, PREVIOUS, "buy", "KO", 100.0, status="filled", filled_qty=1.5, filled_avg_price=60.0)
    c = _compare(tmp_path, twin, live_dir)
    assert c.state == "ok"
    (ko,) = [o for o in c.orders if o.symbol == "KO"]
    assert (ko.live.filled_qty, ko.paper.filled_qty, ko.slippage_total) == (0.0, 1.5, None)
