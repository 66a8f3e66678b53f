"""What every daily notebook's kernel imports before its first cell, imported once by the
kernels' fork server (report/kernel_forks.py): the notebooks' own modules (their
``import`` lines, kept equal to them by tests/test_kernels.py) and vectorbt, set up as the
strategies notebook's backtests use it. Importing this module runs nothing else, but
registers the server's quick end (exits.py: it exits after every run, 1.2-1.7 s of
collecting all of the above, 0.13-0.15 s with it; its kernels end with ``os._exit``)."""

from algotrading.backtest.engine import vectorbt
from algotrading.daily import steps  # noqa: F401
from algotrading.exits import end_quickly
from algotrading.report import decision_views, notebook, strategy_views, twin_views  # noqa: F401

vectorbt()
end_quickly()
