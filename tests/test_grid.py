"""Parameter sweeps on Dask (backtest/grid.py, ``algotrading sweep``): real local clusters
of worker processes, no mocks. One cluster of 2 workers serves the module (a start costs
a few seconds); the worker-death test starts its own, last."""

from __future__ import annotations

import datetime as dt
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from distributed import wait

from algotrading.backtest.engine import plan_sweep, sweep, sweep_frame
from algotrading.backtest.grid import (
    ClusterUnreachable,
    WorkerDied,
    gather_chunks,
    grid_sweep,
    open_client,
    run_sweep,
    share_market,
    submit_chunks,
)
from algotrading.cli import main
from algotrading.config import load_settings
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.faults import VARIABLE
from algotrading.strategies import Strategy, load_strategies

START = dt.date(2019, 1, 2)
#: (50, 50) is invalid (fast must be shorter than slow): it keeps its error row.
GRID = {"fast_window": [20, 50], "slow_window": [50, 150, 200]}
#: Chunks of at most 100 columns: 2 combinations of the strategy's groups' symbols, so
#: the grid's 5 valid combinations make 3 chunks.
MAX_COLUMNS = 100
#: A small, quick request of the command (dates inside the bundled data).
COMMAND = [
    "sweep",
    "--strategy",
    "golden_cross",
    "--grid",
    "fast_window=20,50",
    "--grid",
    "slow_window=50,150",
    "--symbols",
    "SPY",
    "QQQ",
    "AAPL",
    "--start",
    "2022-01-03",
    "--end",
    "2023-12-29",
]


@pytest.fixture(scope="module")
def client() -> Iterator:
    """A local cluster of 2 worker processes, as ``--workers 2`` starts it."""
    with open_client(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def setup() -> tuple[Strategy, MarketData]:
    settings = load_settings()
    symbols = ["SPY", "QQQ", "XLK", "AAPL", "XOM", "JPM"]
    market = MarketData.from_bars(BundledBarsProvider().get_bars(symbols, dt.date(2018, 1, 2), dt.date(2022, 12, 30)))
    (gc,) = load_strategies(settings, ["golden_cross"])
    return gc.with_params(groups=["broad_etfs", "stocks"]), market


@pytest.fixture(scope="module")
def serial(setup) -> pd.DataFrame:
    """The in-process sweep's table: what every Dask sweep must give."""
    gc, market = setup
    return sweep(gc, market, GRID, load_settings().backtest, start=START, max_columns=MAX_COLUMNS)


def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (bound by the system, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_dask_sweep_on_two_workers_gives_the_serial_table(client, setup, serial):
    gc, market = setup
    table = grid_sweep(client, gc, market, GRID, load_settings().backtest, start=START, max_columns=MAX_COLUMNS)
    pd.testing.assert_frame_equal(table, serial)
    invalid = table.set_index(["fast_window", "slow_window"]).loc[(50, 50)]
    assert invalid["error"].endswith("fast_window (50) must be shorter than slow_window (50)")
    assert pd.isna(invalid["sharpe"]) and table["error"].notna().sum() == 1
    assert len(table) == 6 and table["sharpe"].notna().sum() == 5


def test_an_existing_cluster_is_reached_by_its_address(client, setup, serial):
    gc, market = setup
    address = client.scheduler.address
    table = run_sweep(
        gc, market, GRID, load_settings().backtest, start=START, max_columns=MAX_COLUMNS, scheduler=address
    )
    pd.testing.assert_frame_equal(table, serial)


def test_the_market_data_goes_to_the_workers_once(client, setup, serial):
    """One scattered copy per worker; every chunk's task depends on that one key and
    carries no data of its own."""
    gc, market = setup
    params = load_settings().backtest
    plan = plan_sweep(gc, GRID, min_chunks=4)  # 4000 columns would hold all 5; at least 4 chunks: 2 each at most
    assert [len(c) for c in plan.chunks] == [2, 2, 1]
    shared = share_market(client, market)
    futures = submit_chunks(client, plan, shared, params, START)
    wait(futures)  # the scheduler knows them (submit is asynchronous); done, they keep their dependencies

    def dependencies(dask_scheduler, keys):  # noqa: ANN001, ANN202  (runs in the scheduler)
        return [sorted(str(d.key) for d in dask_scheduler.tasks[k].dependencies) for k in keys]

    assert client.run_on_scheduler(dependencies, keys=[f.key for f in futures]) == [[str(shared.key)]] * 3
    assert len(client.who_has([shared])[shared.key]) == 2  # broadcast: on both workers
    pd.testing.assert_frame_equal(sweep_frame(plan, gather_chunks(plan, futures)), serial)


def test_sweeps_of_the_same_data_one_after_another_each_scatter_their_own_copy(client, setup, serial):
    """A sweep's data is released when it ends; the next sweep of the same data must not
    reuse its key (a hashed key was forgotten under it: "lost dependencies")."""
    gc, market = setup
    first, second = share_market(client, market), share_market(client, market)
    assert first.key != second.key
    del first, second
    for _ in range(2):
        table = grid_sweep(client, gc, market, GRID, load_settings().backtest, start=START, max_columns=MAX_COLUMNS)
        pd.testing.assert_frame_equal(table, serial)


def test_an_unreachable_scheduler_fails_at_once_naming_the_address_and_the_fix(workdirs, capsys):
    address = f"tcp://127.0.0.1:{closed_port()}"
    with pytest.raises(ClusterUnreachable) as caught, open_client(scheduler=address):
        pass
    message = str(caught.value)
    assert address in message and "Connection refused" in message
    assert "`dask scheduler`" in message and "ALGOTRADING_DASK_SCHEDULER" in message and "--workers N" in message
    assert main([*COMMAND, "--scheduler", address]) == 2
    assert f"cannot reach the Dask scheduler at {address}" in capsys.readouterr().err


def test_the_command_writes_the_same_table_in_process_and_on_a_cluster(workdirs, client, capsys, monkeypatch):
    """In this process, on the cluster named by --scheduler, and on the one named by
    ALGOTRADING_DASK_SCHEDULER: exit 0, the same CSV; the best rows printed."""
    out = workdirs["reports"]
    assert main([*COMMAND, "--out", str(out / "serial.csv")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("golden_cross: 4 combinations (1 invalid), 2022-01-03 .. 2023-12-29, 3 symbols")
    assert "on this process" in printed and f"table: {out / 'serial.csv'}" in printed
    assert main([*COMMAND, "--scheduler", client.scheduler.address, "--out", str(out / "cluster.csv")]) == 0
    assert f"on {client.scheduler.address}" in capsys.readouterr().out
    monkeypatch.setenv("ALGOTRADING_DASK_SCHEDULER", client.scheduler.address)
    assert main(COMMAND) == 0  # the default name, under reports/
    assert f"on {client.scheduler.address}" in capsys.readouterr().out
    serial = pd.read_csv(out / "serial.csv")
    assert list(serial.columns[:2]) == ["fast_window", "slow_window"] and len(serial) == 4
    pd.testing.assert_frame_equal(pd.read_csv(out / "cluster.csv"), serial)
    pd.testing.assert_frame_equal(pd.read_csv(out / "sweep-golden_cross-2022-01-03-2023-12-29.csv"), serial)


def test_dask_is_imported_only_when_a_distributed_sweep_runs():
    """The command line, the grid module and the research notebook's module load without
    dask (distributed costs 0.4 s to import): checked in a fresh interpreter, without a clock."""
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, algotrading.cli, algotrading.backtest.grid, algotrading.report.research; "
            "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--grid", "fast_window=10", "--grid", "fast_window=30"], "--grid: each parameter once"),
        (["--grid", "speed=1,2"], "--grid speed: not a parameter of golden_cross (its parameters: "),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "give one of them"),
        (["--end", "2026-06-30"], "after the latest session with the bundled data (2025-12-31)"),
    ],
)
def test_the_command_refuses_bad_requests_with_exit_2(workdirs, capsys, extra, expected):
    assert main([*COMMAND, *extra]) == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--grid", "fast_window"], "'fast_window' is not a grid axis: use NAME=V1,V2,..."),
        (["--workers", "0"], "'0' is not a count: use a whole number >= 1"),
    ],
)
def test_the_command_line_parser_refuses_malformed_options_with_exit_2(workdirs, capsys, extra, expected):
    with pytest.raises(SystemExit) as exited:
        main([*COMMAND, *extra])
    assert exited.value.code == 2 and expected in capsys.readouterr().err


def test_a_worker_that_dies_ends_the_sweep_with_a_report(workdirs, capsys, monkeypatch, tmp_path: Path):
    """Each worker of this cluster is killed (``kill -9``) where a chunk starts, restart
    after restart (the variable is in the environment the nanny starts it with): the
    command reports the death and exits 1 instead of waiting."""
    monkeypatch.setenv(VARIABLE, "sweep:chunk")
    assert main([*COMMAND, "--workers", "1", "--out", str(tmp_path / "never.csv")]) == 1
    err = capsys.readouterr().err
    assert (
        re.search(r"a Dask worker died running chunk \d of 2 ", err)
        and "--max-columns" in err
        and "--memory-limit" in err
    )
    assert not (tmp_path / "never.csv").exists()
    assert issubclass(WorkerDied, RuntimeError)
