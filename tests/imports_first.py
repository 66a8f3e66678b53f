"""A pytest plugin loaded before every other (``-p tests.imports_first``, pyproject.toml's
addopts and run_tests.sh's references), for what every test process needs first:

- it imports the package, which marks jsonschema's optional ``rfc3987_syntax`` absent
  (src/algotrading/__init__.py) before nbval's plugin imports nbformat. Without it every
  test process (each worker, the references) built that package's lark parser at start:
  1.0-1.8 s of CPU each, measured with -X importtime;
- it lets the process end as the console command does (:func:`algotrading.exits.end_quickly`,
  registered first, so it runs after pytest's own exit handlers): a worker that imported
  the whole stack took 2.3-2.4 s to exit after its last test, 0.6-0.8 s with it.
"""

import algotrading  # noqa: F401  (first: see above)
from algotrading.exits import end_quickly

end_quickly()
