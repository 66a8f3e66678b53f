"""A pytest plugin loaded before every other (``-p tests.imports_first``, pyproject.toml's
addopts and run_tests.sh's references): it imports the package, which marks jsonschema's
optional ``rfc3987_syntax`` absent (src/algotrading/__init__.py) before nbval's plugin
imports nbformat. Without it every test process (each worker, the references) built
that package's lark parser at start: 1.0-1.8 s of CPU each, measured with -X importtime."""

import algotrading  # noqa: F401
