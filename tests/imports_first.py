"""A pytest plugin loaded before every other (``-p tests.imports_first``, pyproject.toml's
addopts and run_tests.sh's references), for what every test process needs first:

- it imports the package, which marks jsonschema's optional ``rfc3987_syntax`` absent
  (src/algotrading/__init__.py) before nbval's plugin imports nbformat. Without it every
  test process (each worker, the references) built that package's lark parser at start:
  1.0-1.8 s of CPU each, measured with -X importtime;
- it makes the process the package's own, as the console command is
  (:func:`algotrading.collector.own_process`, registered first, so its exit handler runs
  after pytest's own): a worker that imported the whole stack took 2.3-2.4 s to exit
  after its last test, 0.6-0.8 s with it;
- the collection (every test module's imports: pytest's plugins, pandas, the package,
  hypothesis) runs without the garbage collector, and what it imported is frozen once
  it is done (:func:`algotrading.collector.importing`), so the tests' collections do not
  walk it again.
"""

from contextlib import ExitStack

import pytest

import algotrading  # noqa: F401  (first: see above)
from algotrading.collector import importing, own_process

own_process()
_collection = ExitStack()
_collection.enter_context(importing())


def pytest_collection_finish(session: pytest.Session) -> None:
    """A process that collects (each xdist worker, a run without workers)."""
    _collection.close()


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """A process that does not collect (xdist's controller): the collector is back on
    before the tests run (closing twice is nothing)."""
    _collection.close()
