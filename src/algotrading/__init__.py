"""AlgoTrading: a notebook-centric, research-to-production daily trading workflow for a
small Alpaca account. See DESIGN.md §2 for the module map."""

from importlib import metadata

try:
    __version__ = metadata.version("algotrading")
except metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"
