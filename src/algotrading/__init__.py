"""AlgoTrading: a notebook-centric, research-to-production daily trading workflow for a
small Alpaca account. README.md "Layout" lists its rooms and which may import which."""

from importlib import metadata

try:
    __version__ = metadata.version("algotrading")
except metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"
