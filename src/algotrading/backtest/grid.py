"""Parameter sweeps on Dask ``distributed`` (README "Distributed grids"): the chunks of
:func:`~algotrading.backtest.engine.plan_sweep` as tasks, on a local cluster of worker
processes or on an existing cluster reached by its address.

* One task is one chunk, run by :func:`~algotrading.backtest.engine.sweep_chunk`, the code
  the in-process sweep runs: nothing here backtests. The chunk size (``max_columns``)
  bounds what a worker holds at once.
* The market data goes to every worker once (``scatter(..., broadcast=True)``); each task
  names it by its key instead of carrying a copy.
* The rows come back into the in-process sweep's table
  (:func:`~algotrading.backtest.engine.sweep_frame`, rows in chunk order whatever order
  the tasks finish in): same rows, same order, same numbers.
* An unreachable scheduler is a :class:`ClusterUnreachable` (a usage error, exit 2)
  naming the address and the fix; a worker that dies running a chunk ends the sweep with
  :class:`WorkerDied` instead of waiting for it.

dask is imported only when a distributed sweep runs (``distributed`` costs 0.4 s to
import, measured here): ``import algotrading.cli`` and the research notebook stay light.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pandas as pd

from algotrading.backtest.engine import SweepPlan, plan_sweep, sweep, sweep_bar, sweep_chunk, sweep_frame
from algotrading.config import BacktestParams, Settings, UsageError
from algotrading.data.market import MarketData
from algotrading.strategies.base import Strategy

if TYPE_CHECKING:  # types only: distributed is imported when a distributed sweep runs
    from distributed import Client, Future

#: The environment variable (or ``.env`` line) naming an existing scheduler, e.g.
#: ``tcp://10.0.0.5:8786``; ``--scheduler`` overrides it (config: ``Settings.dask_scheduler``).
SCHEDULER_VARIABLE = "ALGOTRADING_DASK_SCHEDULER"
#: Seconds to reach a scheduler, and for an existing cluster to show a worker.
CONNECT_SECONDS = 10
#: Deaths a chunk may cause on the local cluster before the sweep gives up: a chunk that
#: killed a worker (most often by running out of memory) kills the next one too.
LOCAL_ALLOWED_FAILURES = 1
#: Chunks per worker thread: more than one, so a slow chunk does not leave workers idle.
CHUNKS_PER_THREAD = 2
#: The local cluster's dask settings. Its workers start without dask's default
#: ``MALLOC_TRIM_THRESHOLD_=65536``: that fixed threshold also turns off glibc's adaptive
#: mmap threshold, so each of a chunk's large arrays is a fresh mmap, zeroed page by page
#: (measured here on a 25-combination chunk: 430,000 page faults instead of 60,000, 1.4 s
#: of system time, the chunk 1.6x slower than in-process; without it, as fast).
#: The active memory manager is off: its ReduceReplicas policy drops the broadcast copies
#: of the market data down to one (every 2 s), so later chunks would fetch it again from
#: a peer (seen as the data on one worker of two in tests/test_grid.py on a busy machine).
LOCAL_CLUSTER_CONFIG = {
    "distributed.scheduler.allowed-failures": LOCAL_ALLOWED_FAILURES,
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.scheduler.active-memory-manager.start": False,
}


class ClusterUnreachable(UsageError):
    """The scheduler cannot be reached, or has no workers (exit code 2); the message names
    the address and the fix."""


class WorkerDied(RuntimeError):
    """A Dask worker died running a chunk of the sweep (exit code 1)."""


def scheduler_address(given: str | None, workers: int | None, settings: Settings | None) -> str | None:
    """The scheduler a sweep uses: ``given`` (``--scheduler``); else none when ``workers``
    asks for a local cluster; else ``ALGOTRADING_DASK_SCHEDULER`` (environment or ``.env``,
    read into ``settings``); else none (a local cluster or this process)."""
    if given or workers is not None:
        return given or None
    return settings.dask_scheduler if settings is not None else None


def unreachable_message(address: str, why: str) -> str:
    """What an unreachable scheduler prints: the address, the reason and the fix."""
    return (
        f"cannot reach the Dask scheduler at {address} ({why}). Start one there (`dask scheduler`, then "
        f"`dask worker {address}` on each machine), correct --scheduler or {SCHEDULER_VARIABLE}, or leave both "
        "unset to run on a local cluster of this machine's cores (--workers N)."
    )


def check_reachable(address: str, seconds: float = CONNECT_SECONDS) -> None:
    """Fail at once when nothing listens at a ``tcp://``/``tls://`` ``address`` (distributed
    itself retries a refused connection until its timeout, 30 s by default, and then
    names no fix). Other protocols are left to distributed."""
    from distributed.comm import parse_address, parse_host_port  # local: 0.4 s to import, sweeps only

    try:
        protocol, location = parse_address(address)
        host, port = parse_host_port(location)
    except ValueError as exc:
        raise ClusterUnreachable(unreachable_message(address, f"not an address: {exc}")) from None
    if protocol not in ("tcp", "tls"):
        return
    try:
        socket.create_connection((host, port), timeout=seconds).close()
    except OSError as exc:
        raise ClusterUnreachable(unreachable_message(address, exc.strerror or str(exc) or type(exc).__name__)) from None


@contextmanager
def open_client(
    scheduler: str | None = None, workers: int | None = None, memory_limit: str | float = "auto"
) -> Iterator[Client]:
    """A Dask client: on the scheduler at ``scheduler`` when given, else on a new local
    cluster of ``workers`` processes (default: this machine's cores), one thread each,
    each allowed ``memory_limit`` (``"auto"``: an equal share of the machine's memory; the
    nanny restarts a worker past it). Everything it started is closed on exit."""
    import dask  # local: 0.4 s with distributed to import, sweeps only
    from distributed import Client, LocalCluster

    if scheduler:
        check_reachable(scheduler)
        try:
            client = Client(scheduler, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError) as exc:
            raise ClusterUnreachable(unreachable_message(scheduler, str(exc) or type(exc).__name__)) from None
        with client:
            try:
                client.wait_for_workers(1, timeout=CONNECT_SECONDS)
            except TimeoutError:
                raise ClusterUnreachable(
                    f"the Dask scheduler at {scheduler} has no workers after {CONNECT_SECONDS} s: start some "
                    f"(`dask worker {scheduler}`), or leave --scheduler and {SCHEDULER_VARIABLE} unset to run on "
                    "a local cluster"
                ) from None
            yield client
        return
    from dask.system import CPU_COUNT  # local, with dask (above)

    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        cluster = LocalCluster(
            n_workers=workers or CPU_COUNT,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},  # no bokeh; no fixed port to clash on
        )
    with cluster, Client(cluster) as client:
        # every worker registered before the data is scattered to all of them (on a busy
        # machine the cluster's start returned with one of two workers not yet known)
        client.wait_for_workers(len(cluster.workers), timeout=CONNECT_SECONDS * 6)
        yield client


def worker_threads(client: Client) -> int:
    """The number of task slots of the client's cluster (threads over all workers)."""
    return max(1, sum(w["nthreads"] for w in client.scheduler_info(n_workers=-1)["workers"].values()))


def share_market(client: Client, data: MarketData) -> Future:
    """``data`` on every worker, sent once: the future that tasks take instead of the data.

    Under a key of its own (``hash=False``): with the default key, a hash of the data, a
    second sweep of the same data in one session scattered the key that the first sweep's
    released future was forgetting, and its tasks were cancelled for "lost dependencies"."""
    return client.scatter(data, broadcast=True, hash=False)


def submit_chunks(
    client: Client, plan: SweepPlan, shared: Future, params: BacktestParams, start: dt.date | None
) -> list[Future]:
    """One task per chunk of ``plan``, in chunk order, each taking the shared data."""
    return [client.submit(sweep_chunk, chunk, shared, params, start, pure=False) for chunk in plan.chunks]


def gather_chunks(plan: SweepPlan, futures: list[Future]) -> list[list[dict[str, Any]]]:
    """Each chunk's rows in chunk order, collected as tasks finish (the progress bar moves
    by each chunk's combinations). A worker's death ends it with :class:`WorkerDied`; any
    error cancels the tasks not finished."""
    from distributed import KilledWorker, as_completed  # local: 0.4 s to import, sweeps only
    from distributed.client import FutureCancelledError

    where = {f.key: i for i, f in enumerate(futures)}
    rows: list[list[dict[str, Any]]] = [[] for _ in futures]
    try:
        with sweep_bar(plan) as bar:
            for future in as_completed(futures):
                i = where[future.key]
                try:
                    rows[i] = future.result()
                except (KilledWorker, FutureCancelledError) as exc:
                    # killed: it died running this chunk; cancelled: the only worker holding
                    # the market data died (a task's input that cannot be recomputed)
                    raise WorkerDied(died_message(plan, i, exc)) from None
                bar.update(len(plan.chunks[i]))
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return rows


def died_message(plan: SweepPlan, index: int, exc: Exception) -> str:
    """Which chunk a dead worker was running (or could no longer run, the market data lost
    with it), and what to try."""
    chunk = plan.chunks[index]
    first, last = chunk[0][0], chunk[-1][0]
    return (
        f"a Dask worker died running chunk {index + 1} of {len(plan.chunks)} ({len(chunk)} combinations, "
        f"{first} .. {last}): {type(exc).__name__}: {str(exc).rstrip('.')}. Most often a worker out of memory: "
        "make chunks smaller (--max-columns) or give each worker more memory (--memory-limit), or use fewer workers."
    )


def grid_sweep(
    client: Client,
    strategy: Strategy,
    market: MarketData,
    grid: dict[str, list[Any]],
    params: BacktestParams,
    start: dt.date | None = None,
    end: dt.date | None = None,
    max_columns: int = 4000,
) -> pd.DataFrame:
    """:func:`~algotrading.backtest.engine.sweep` on ``client``'s cluster: the same table.

    The chunks hold at most ``max_columns`` columns, and are at least
    :data:`CHUNKS_PER_THREAD` per worker thread (smaller chunks when the grid is small)."""
    plan = plan_sweep(strategy, grid, max_columns, min_chunks=CHUNKS_PER_THREAD * worker_threads(client))
    shared = share_market(client, market.between(None, end))
    return sweep_frame(plan, gather_chunks(plan, submit_chunks(client, plan, shared, params, start)))


def run_sweep(
    strategy: Strategy,
    market: MarketData,
    grid: dict[str, list[Any]],
    params: BacktestParams,
    start: dt.date | None = None,
    end: dt.date | None = None,
    max_columns: int = 4000,
    workers: int | None = None,
    scheduler: str | None = None,
    memory_limit: str | float = "auto",
) -> pd.DataFrame:
    """A sweep where it is asked to run: on the scheduler at ``scheduler``, else on a local
    cluster of ``workers`` processes, else (both ``None``) in this process."""
    if scheduler is None and workers is None:
        return sweep(strategy, market, grid, params, start, end, max_columns)
    with open_client(scheduler, workers, memory_limit) as client:
        return grid_sweep(client, strategy, market, grid, params, start, end, max_columns)
