"""Replay: the daily decision pipeline walked forward through history in one process.

For every session D of the range, in order, with its own isolated state folder
(``OUT/state``: the SQLite store and the simulated account's ledger), replay does what
``algotrading daily --date D --submit`` does in demo mode, through the same functions:

1. the data a run on D would load and validate (history from :func:`history_start`,
   per-symbol health, excluded symbols dropped);
2. the strategies' signals on D and their walk-forward performance as of D;
3. the account: earlier orders filled at the open, positions marked at D's close, equity
   recorded, drawdown halt and emergency stop applied (``load_account``);
4. ranking, safety sizing, cash depletion, risk and the plan (``plan.rank/size/finalize``);
5. the plan's orders sent to the simulated account (``submit_plan``), to fill at the
   next open; buys waiting for sells are sent by the next session's catch-up, as in demo.

What is not redone per session is only what gives the same answer: the strategies'
signal frames and backtests are computed once per history start and symbol set, on the
bars up to the last session loading that history, and cut at D (they are causal;
:class:`~algotrading.backtest.walkforward.StrategyBooks`), and the data
health uses :class:`~algotrading.data.validation.PrefixHealth`. Sessions whose backtest
has not started yet (the first ``warmup_sessions`` of the data) get the one-row
backtest the daily run's amounts to (:func:`~algotrading.backtest.walkforward.first_day_books`).
The test ``test_replay.py`` checks the plans equal the daily run's.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import gc
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from algotrading import calendar as cal
from algotrading import faults
from algotrading.backtest.walkforward import StrategyBooks, StrategyRun, compute_books, first_day_books, session_run
from algotrading.broker import make_broker
from algotrading.collector import own_process
from algotrading.config import Mode, Settings, cross_field_problems
from algotrading.daily.inputs import max_holds, plan_inputs
from algotrading.data import make_provider
from algotrading.data.bars import BarsProvider
from algotrading.data.market import MarketData
from algotrading.data.snapshot import history_start
from algotrading.data.validation import PrefixHealth
from algotrading.decisions.plan import Plan, finalize, rank, size
from algotrading.decisions.risk import RiskState
from algotrading.decisions.rows import row_type
from algotrading.decisions.rows import rows as table_rows
from algotrading.execution.account import load_account
from algotrading.execution.outcomes import follow_up
from algotrading.execution.submit import submit_plan
from algotrading.replay.record import Recorder
from algotrading.storage.sqlite import scratch_files
from algotrading.storage.store import FILE_NAME, open_store

log = logging.getLogger(__name__)

#: Outputs are rewritten every this many sessions, so a killed replay keeps most of its work.
CHECKPOINT_SESSIONS = 250
#: A replay of at least this many stretches (history starts) prepares them in a worker
#: process (:class:`_Preparer`); a shorter one in its own process (a worker costs about
#: 2 s to start and import the backtest engine).
WORKER_FROM_STRETCHES = 2
#: With a worker, every this-many-th stretch (the first included) is prepared in the
#: replay's own process, the others in the worker: planning a stretch takes about a
#: third of preparing one, so a worker preparing every stretch kept the replay waiting.
HERE_EVERY = 3
#: Within a replay, a full garbage collection comes this many times less often (see
#: :func:`_lighter_collector`).
FULL_COLLECTION_EVERY = 10
#: Linux's prctl option: a signal the kernel sends this process when its parent dies.
PR_SET_PDEATHSIG = 1


class ReplayError(RuntimeError):
    """A replay that cannot start (bad range, capital or output folder); nothing was written."""


@dataclass(frozen=True)
class ReplayResult:
    out_dir: Path
    sessions_total: int
    sessions_done: int
    complete: bool  # False: interrupted (Ctrl-C); the outputs hold the sessions done
    seconds: float
    final_equity: float | None


@dataclass
class _Stretch:
    """The bars of one history start up to the last session loading it, and what is
    computed on them."""

    market: MarketData
    markets: dict[tuple[str, ...], MarketData] = field(default_factory=dict)
    books: dict[tuple[str, ...], StrategyBooks] = field(default_factory=dict)
    first_day: dict[tuple[str, ...], StrategyBooks] = field(default_factory=dict)  # one-row backtest templates

    def market_for(self, usable: tuple[str, ...]) -> MarketData:
        if usable not in self.markets:
            whole = len(usable) == len(self.market.symbols)
            self.markets[usable] = self.market if whole else self.market.select(usable)
        return self.markets[usable]


@dataclass(frozen=True)
class _Prepared:
    """What one session needs that no account state changes: the symbols its data check
    excludes, the usable ones, and the strategies' run on them (without its backtests'
    details, which the plan does not read), or the error the strategies raised."""

    excluded: dict[str, str]
    usable: tuple[str, ...]
    run: StrategyRun | None
    error: BaseException | None = None
    #: the run's signal table as plain tuples of its columns' values, made beside it (by
    #: the worker, a stretch ahead) rather than by the planning side, where reading a
    #: table of Arrow strings row by row was its largest single cost; None: not made
    signal_values: tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]] | None = None

    def signal_rows(self) -> tuple[Any, ...] | None:
        """The run's signals as the rows :func:`~algotrading.decisions.rows.rows` makes of
        its table (named tuples are made here: their class is not sent between processes)."""
        if self.signal_values is None:
            return None
        columns, values = self.signal_values
        make = row_type(columns)._make
        return tuple(make(v) for v in values)


def _signal_values(signals: pd.DataFrame) -> tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]] | None:
    """``signals`` as (column names, each row's values as a plain tuple), the values those
    of :func:`~algotrading.decisions.rows.rows`; None for a table it reads otherwise (a
    repeated column name)."""
    if not signals.columns.is_unique:
        return None
    return tuple(str(c) for c in signals.columns), tuple(tuple(r) for r in table_rows(signals))


@dataclass(frozen=True)
class _Span:
    """One stretch of the replay: its history start, its last session, its sessions."""

    begins: dt.date
    last: dt.date
    sessions: tuple[dt.date, ...]


def replay_settings(settings: Settings, state_dir: Path, capital: float | None) -> Settings:
    """The settings a replay runs with: demo mode (bundled data, the simulated account)
    with its own state folder and, when given, ``capital`` as ``PORTFOLIO_SIZE``."""
    safety = (
        settings.safety if capital is None else settings.safety.model_copy(update={"portfolio_size": float(capital)})
    )
    out = settings.model_copy(
        update={"mode": Mode.DEMO, "safety": safety, "paths": replace(settings.paths, state_dir=state_dir)}
    )
    problems = cross_field_problems(out)
    if problems:
        raise ReplayError("the replay's settings cannot work:\n" + "\n".join(f"  - {p}" for p in problems))
    return out


def _sessions(start: dt.date, end: dt.date, data_first: dt.date, data_last: dt.date) -> list[dt.date]:
    if start > end:
        raise ReplayError(f"--start {start} is after --end {end}: give the earlier date first")
    if end > data_last:
        raise ReplayError(
            f"the data ends {data_last}; the replay asks up to {end}: choose --end on or before {data_last}"
        )
    if start < data_first:
        raise ReplayError(
            f"the data starts {data_first}; the replay asks from {start}: choose --start on or after {data_first}"
        )
    sessions = cal.sessions_between(start, end)
    if not sessions:
        raise ReplayError(f"no NYSE session between {start} and {end}")
    return sessions


def _check_out_dir(out_dir: Path) -> None:
    if (out_dir / "state" / FILE_NAME).exists():
        raise ReplayError(
            f"{out_dir} already holds a replay (its state/ folder): choose another --out folder, or delete "
            f"{out_dir} to replay into it again"
        )
    out_dir.mkdir(parents=True, exist_ok=True)


def replay(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    out_dir: Path,
    capital: float | None = None,
    progress: Callable[[Iterable[dt.date], int], Iterable[dt.date]] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    write_every: int = CHECKPOINT_SESSIONS,
    auto_resume: int | None = None,
    provider: BarsProvider | None = None,
) -> ReplayResult:
    """Replay the sessions ``start`` .. ``end`` into ``out_dir`` (see the module docstring).

    ``progress`` wraps the session iterator (a progress bar); ``on_plan`` sees every plan.
    ``auto_resume``: after this many sessions in HALTED or EMERGENCY STOP, resume as a
    user would with ``algotrading risk resume`` (None: never, as the daily run).
    ``provider``: the bars (default: the bundled data, as in demo mode).
    Ctrl-C stops after the session in hand; the outputs then hold the sessions done.
    """
    if auto_resume is not None and auto_resume < 1:
        raise ReplayError(f"--auto-resume {auto_resume}: give a number of sessions of at least 1")
    started = time.monotonic()
    out_dir = Path(out_dir)
    rs = replay_settings(settings, out_dir / "state", capital)
    provider = provider or make_provider(rs)
    symbols = rs.universe.all_symbols
    first_start = history_start(
        cal.to_date(start) if cal.is_session(start) else cal.next_session(start), rs.data.history_sessions
    )
    bars = provider.get_bars(symbols, first_start, end)
    if bars.empty:
        raise ReplayError(f"the data source ({provider.name}) has no bars from {first_start} to {end}")
    dates = pd.DatetimeIndex(bars["date"])
    sessions = _sessions(start, end, dates.min().date(), dates.max().date())
    _check_out_dir(out_dir)

    recorder = Recorder(out_dir, rs, sessions[0], sessions[-1])
    holds = max_holds(rs)
    spans = _spans(sessions, rs.data.history_sessions)
    done = 0
    complete = False
    iterator: Iterable[dt.date] = progress(sessions, len(sessions)) if progress else sessions
    with scratch_files(), _Preparer(rs, bars, spans) as prepared, _lighter_collector() as freeze:
        try:
            for session in iterator:
                if auto_resume is not None:
                    _maybe_resume(rs, session, auto_resume, recorder)
                _one_session(rs, prepared.market(session), session, prepared.get(session), recorder, holds, on_plan)
                done += 1
                if done == 1:
                    freeze()
                if write_every and done % write_every == 0:
                    recorder.write(complete=False)
            complete = True
        except KeyboardInterrupt:
            log.warning("replay interrupted after %d of %d sessions; writing what was done", done, len(sessions))
        except Exception as exc:
            recorder.write(
                complete=False,
                seconds=time.monotonic() - started,
                error=f"{type(exc).__name__}: {exc} (after {done} sessions)",
            )
            raise
        recorder.write(complete=complete, seconds=time.monotonic() - started)
    # sessions recorded: a Ctrl-C in on_plan comes after its session was recorded
    recorded = len(recorder.equity)
    return ReplayResult(out_dir, len(sessions), recorded, complete, time.monotonic() - started, recorder.final_equity)


def _rarer_full_collections() -> tuple[int, int, int]:
    """Make this process's full garbage collections :data:`FULL_COLLECTION_EVERY` times
    rarer (``gc``'s third threshold); returns the thresholds before."""
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], before[2] * FULL_COLLECTION_EVERY)
    return before


@contextmanager
def _lighter_collector() -> Iterator[Callable[[], None]]:
    """Within the block, Python's full garbage collections are rarer (``gc``'s third
    threshold times :data:`FULL_COLLECTION_EVERY`); the function yielded moves every
    object alive then out of the collector's reach (``gc.freeze``): they are still freed
    by their reference counts, only a reference cycle among them waits for the block's
    end. Both undone when the block ends.

    A full collection walks every object: the modules imported for the first stretch
    (pandas, vectorbt, scipy: hundreds of thousands of objects that live as long as the
    process) and the replay's own. A ten-year replay made two dozen of them, at up to
    0.4 s each (a sixth of its time), and after its first session they found nothing to
    free: its garbage is freed by reference counts and the young collections, which are
    left as they are. The replay freezes what exists once its first session is planned."""
    before = _rarer_full_collections()
    frozen = False

    def freeze() -> None:
        nonlocal frozen
        if not frozen:
            gc.freeze()
            frozen = True

    try:
        yield freeze
    finally:
        if frozen:
            gc.unfreeze()
        gc.set_threshold(*before)


def _spans(sessions: list[dt.date], history_sessions: int) -> list[_Span]:
    """The replay's sessions grouped by the history start a daily run on each loads."""
    groups: dict[dt.date, list[dt.date]] = {}
    for day in sessions:
        groups.setdefault(history_start(day, history_sessions), []).append(day)
    return [_Span(begins, days[-1], tuple(days)) for begins, days in groups.items()]


def _cut(bars: pd.DataFrame, begins: dt.date, last: dt.date) -> pd.DataFrame:
    """The bars from ``begins`` to ``last``: a stretch's backtests run no further than
    the last session loading its history needs."""
    dates = bars["date"]
    return bars[(dates >= pd.Timestamp(begins)) & (dates <= pd.Timestamp(last))].reset_index(drop=True)


def prepare_span(
    settings: Settings, part: pd.DataFrame, span: _Span, stretch: _Stretch | None = None
) -> list[_Prepared]:
    """Each session of ``span``: its data check and its strategies' run, in order; it
    stops at the first session whose strategies raise (the replay stops there too).
    ``stretch``: the replay's own stretch of ``part`` when it runs in the replay's
    process (its bars are not pivoted twice); a worker makes its own.

    Nothing here depends on the account, so a long replay runs it for the next stretch
    in a second process (:class:`_Preparer`) while this one plans the current stretch."""
    stretch = stretch or _Stretch(MarketData.from_bars(part))
    health = PrefixHealth(part, settings.universe.all_symbols, span.last, settings.data.validation)
    out: list[_Prepared] = []
    for session in span.sessions:
        excluded = health.excluded(session)
        usable = tuple(s for s in stretch.market.symbols if s not in excluded)
        if not set(settings.universe.symbols) - set(excluded):
            out.append(_Prepared(excluded, usable, None))
            continue
        try:
            run = _strategies(settings, stretch, usable, session)
        except Exception as exc:  # raised again by the replay when it reaches this session
            out.append(_Prepared(excluded, usable, None, exc))
            break
        out.append(_Prepared(excluded, usable, replace(run, results={}), signal_values=_signal_values(run.signals)))
    return out


def _prepare_elsewhere(settings: Settings, part: pd.DataFrame, span: _Span) -> tuple[MarketData, list[_Prepared]]:
    """:func:`prepare_span` in the worker, with the stretch's wide bars it made on the way:
    the replay's process plans on the same frames, so it takes them rather than pivoting
    the same bars again."""
    stretch = _Stretch(MarketData.from_bars(part))
    return stretch.market, prepare_span(settings, part, span, stretch)


class _Preparer:
    """The sessions' :class:`_Prepared` parts, stretch by stretch, in order.

    A replay of one stretch prepares it here, in this process. A longer one prepares its
    first stretch here too, while a worker process starts, and then shares the rest with
    that worker: every :data:`HERE_EVERY`-th stretch here, the others in the worker,
    ahead of the planning (two submitted at a time: one in its hands, one waiting). The
    strategies' backtests and signals then run on the second core while this process
    does the account, the plan and the simulated broker. Both places run
    :func:`prepare_span` on the same bars; a Ctrl-C stops the replay, not the worker,
    which is told to drop what it has not started."""

    def __init__(self, settings: Settings, bars: pd.DataFrame, spans: list[_Span]) -> None:
        self.settings = settings
        self.spans = spans
        self.parts = [_cut(bars, span.begins, span.last) for span in spans]
        #: session -> (its stretch, its place in the stretch)
        self.index = {day: (k, i) for k, span in enumerate(spans) for i, day in enumerate(span.sessions)}
        self.pool: ProcessPoolExecutor | None = None
        self.futures: dict[int, Future[tuple[MarketData, list[_Prepared]]]] = {}
        self.done: dict[int, list[_Prepared]] = {}
        self.stretches: dict[int, _Stretch] = {}  # this side's: only the stretch being planned
        self.for_worker: list[int] = []  # the worker's stretches not submitted yet, in order

    def __enter__(self) -> _Preparer:
        if len(self.spans) >= WORKER_FROM_STRETCHES:
            context = multiprocessing.get_context("spawn")  # not fork: the caller may have threads
            self.pool = ProcessPoolExecutor(
                max_workers=1, mp_context=context, initializer=_worker_setup, initargs=(os.getpid(),)
            )
            # the first stretch here, while the worker starts (about 2 s)
            self.for_worker = [k for k in range(len(self.spans)) if k % HERE_EVERY != 0]
            self._submit_ahead()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _submit_ahead(self) -> None:
        """Keep two of the worker's stretches submitted: one in its hands, one waiting."""
        while self.pool is not None and self.for_worker and len(self.futures) < 2:
            k = self.for_worker.pop(0)
            self.futures[k] = self.pool.submit(_prepare_elsewhere, self.settings, self.parts[k], self.spans[k])

    def _span(self, k: int) -> list[_Prepared]:
        if k not in self.done:
            if k in self.futures:
                market, self.done[k] = self.futures.pop(k).result()
                self.stretches = {k: _Stretch(market)}  # the worker's wide bars, not reshaped again here
                self._submit_ahead()
                faults.reach("replay:from_worker")  # a test kills the replay here: its worker must die too
            else:  # this process's share (or no worker)
                self.done[k] = prepare_span(self.settings, self.parts[k], self.spans[k], self._stretch(k))
            self.done.pop(k - 1, None)
        return self.done[k]

    def get(self, session: dt.date) -> _Prepared:
        """The session's prepared part; raises what its strategies raised."""
        k, position = self.index[session]
        prepared = self._span(k)
        if position >= len(prepared):  # an earlier session of its stretch raised
            raise RuntimeError(f"{session}: not prepared, an earlier session of its stretch failed")
        error = prepared[position].error
        if error is not None:
            raise error
        return prepared[position]

    def market(self, session: dt.date) -> _Stretch:
        """The session's stretch on this side: its bars, cut per symbol set as needed
        (from the worker with its prepared part, when the worker prepared it)."""
        k = self.index[session][0]
        self._span(k)
        return self._stretch(k)

    def _stretch(self, k: int) -> _Stretch:
        if k not in self.stretches:
            self.stretches = {k: _Stretch(MarketData.from_bars(self.parts[k]))}
        return self.stretches[k]


def _worker_setup(parent: int) -> None:
    """The preparing worker leaves Ctrl-C to the replay, which stops after its session, and
    dies with the replay's process: on Linux the kernel kills it when its parent dies
    (``PR_SET_PDEATHSIG``), so a replay killed by ``kill -9`` or the OOM killer leaves no
    worker behind (its task queue never closes, so it would wait forever). Its full
    garbage collections are as rare as the replay's own (:func:`_lighter_collector`: the
    whole process is the replay's), and it imports vectorbt without them
    (collector.own_process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    own_process()
    _rarer_full_collections()
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the replay died before that call
            os._exit(1)


def _maybe_resume(settings: Settings, session: dt.date, after: int, recorder: Recorder) -> None:
    """Resume (as ``algotrading risk resume`` does) once the account has been HALTED or in
    EMERGENCY STOP for ``after`` sessions; the drawdown then restarts from that equity."""
    with open_store(settings.paths.state_dir) as store:
        status = store.risk_status()
        if status.state is RiskState.ACTIVE or status.session_date is None:
            return
        since = dt.date.fromisoformat(status.session_date)
        waited = len(cal.sessions_between(since, session)) - 1
        if waited < after:
            return
        reason = f"replay --auto-resume {after}: resumed after {waited} sessions in {status.state.value}"
        store.set_risk_state(RiskState.ACTIVE, reason, "user", store.latest_equity_session())
    recorder.resumed(session, reason)


def _strategies(settings: Settings, stretch: _Stretch, usable: tuple[str, ...], session: dt.date) -> StrategyRun:
    market = stretch.market_for(usable)
    if usable not in stretch.books:
        stretch.books[usable] = compute_books(settings, market)
    books = stretch.books[usable]
    if session < books.start:  # the daily run's backtest would start on this very session
        template = stretch.first_day.get(usable)
        first = first_day_books(settings, books, market, session, template)
        stretch.first_day.setdefault(usable, first)
        return session_run(settings, first, session)
    return session_run(settings, books, session)


def _one_session(
    settings: Settings,
    stretch: _Stretch,
    session: dt.date,
    prepared: _Prepared,
    recorder: Recorder,
    holds: dict[str, int | None],
    on_plan: Callable[[Plan], None] | None,
) -> None:
    excluded, usable, run = prepared.excluded, prepared.usable, prepared.run
    if run is None:
        recorder.skipped(session, excluded, "no symbol of the universe has usable data: the daily run would stop")
        return
    market = stretch.market_for(usable).upto(session)
    account = load_account(settings, session, persist=True, market=market)
    with open_store(settings.paths.state_dir) as store:
        _, followed = follow_up(store, session)  # as the daily run: expire the unsent, report the last plan's orders
        fates = [f.to_json() for f in followed]
        inputs = plan_inputs(
            settings,
            session,
            market.close,
            run,
            account,
            max_hold=holds,
            previous_orders=fates,
            signal_rows=prepared.signal_rows(),
        )
        ranking = rank(inputs)
        sizing = size(inputs, ranking)
        plan = finalize(inputs, ranking, sizing, cal.session_close(session).isoformat(timespec="seconds"))
        with make_broker(settings, market, session) as broker:
            _, outcomes = submit_plan(store, broker, plan)
    bench = settings.universe.benchmark
    close = float(market.close[bench].iloc[-1]) if bench in market.close.columns else None
    recorder.session(session, account, plan, ranking, sizing, outcomes, excluded, close)
    if on_plan is not None:
        on_plan(plan)


def iterate_with_bar(sessions: Iterable[dt.date], total: int) -> Iterator[dt.date]:
    """Progress on stderr: a tqdm bar with the session being replayed on a terminal, a log
    line every tenth of the way otherwise (cron, CI logs)."""
    if not sys.stderr.isatty():
        step = max(1, total // 10)
        for k, session in enumerate(sessions, start=1):
            yield session
            if k % step == 0 or k == total:
                log.info("replay: %d / %d sessions (%s)", k, total, session)
        return
    with tqdm(sessions, total=total, unit="session", dynamic_ncols=True, mininterval=0.5) as bar:
        for session in bar:
            bar.set_postfix_str(str(session), refresh=False)
            yield session
