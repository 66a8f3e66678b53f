"""AlgoTrading: a notebook-centric, research-to-production daily trading workflow for a
small Alpaca account. README.md "Layout" lists its rooms and which may import which."""

import sys
from importlib import metadata

try:
    __version__ = metadata.version("algotrading")
except metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"


def _skip_slow_optional_imports() -> None:
    """jsonschema imports the optional ``rfc3987_syntax`` when it is installed (JupyterLab's
    jupyter-events brings it), and that builds a lark Earley parser at import: 0.76 s in
    every process that imports nbformat (papermill, nbconvert, plotly's renderers, each
    notebook kernel). It only checks the ``iri`` string format, which no schema this
    package's tools validate uses; marking it absent makes jsonschema skip that format
    (measured: ``import nbformat.validator`` 0.88 s -> 0.12 s). A process that imported it
    before this package keeps it."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


_skip_slow_optional_imports()
