"""What every daily notebook's kernel imports before its first cell, imported once by the
kernels' fork server (report/kernel_forks.py): the notebooks' own modules (their
``import`` lines, kept equal to them by tests/test_kernels.py) and vectorbt, set up as the
strategies notebook's backtests use it, and its first backtest's one-time costs
(engine.warm_up: numba's first call). Importing this module runs nothing else but that
two-session warm-up. The server is the package's own process (collector.py): it imports
without the garbage collector and freezes what it imported, so the kernels forked from
it never walk those objects, and it ends without collecting them (it exits after every
run: 1.2-1.7 s of collecting, 0.13-0.15 s without; its kernels end with ``os._exit``)."""

from algotrading.collector import importing, own_process

own_process()
with importing():  # the server's imports, without the collector (collector.py)
    from algotrading.backtest.engine import vectorbt, warm_up
    from algotrading.daily import steps  # noqa: F401
    from algotrading.report import decision_views, notebook, strategy_views, twin_views  # noqa: F401  (imported for the kernels)

    vectorbt()
    warm_up()
