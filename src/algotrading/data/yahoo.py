"""Daily bars and ^VIX from Yahoo Finance through yfinance: the fallback source.

Alpaca has no index data, so in paper and live ^VIX always comes from here; stocks come
from here only for what Alpaca could not serve (an outage after its retries, a missing
bar). Prices are split- and dividend-adjusted (``auto_adjust``), like Alpaca's
``adjustment=all``; the two sources differ by rounding and in volume (Yahoo's is
consolidated), which is why a symbol's whole history comes from one source in a run.

yfinance keeps a timezone and cookie cache; it goes under the state folder
(``cache/yfinance``), not the user's home. ``url`` (``FALLBACK_DATA_URL``) sends every
request to that server instead of Yahoo's hosts, keeping path and query: the tests point
it at a local server that answers with Yahoo's chart JSON.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import requests
from requests.adapters import HTTPAdapter

from algotrading.config import FallbackParams
from algotrading.data.bars import DataError, empty_bars, normalize_bars

log = logging.getLogger(__name__)


class _RedirectAdapter(HTTPAdapter):
    """Sends each request to ``base`` (scheme and host) with its own path and query."""

    def __init__(self, base: str, timeout: float) -> None:
        super().__init__()
        self._base = urlsplit(base)
        self._timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        request.url = urlunsplit((self._base.scheme, self._base.netloc, parts.path, parts.query, ""))
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


class YahooBarsProvider:
    """``BarsProvider`` for Yahoo Finance's daily chart (one request per symbol)."""

    name = "yahoo"

    def __init__(self, params: FallbackParams, cache_dir: Path, url: str | None = None) -> None:
        self.params = params
        self.cache_dir = cache_dir
        self.url = url

    def unavailable(self, symbols: Sequence[str]) -> dict[str, str]:
        return {}

    def _session(self) -> requests.Session | None:
        """``None`` (yfinance's own browser-like session) unless redirected to ``url``."""
        if self.url is None:
            return None
        session = requests.Session()
        adapter = _RedirectAdapter(self.url, self.params.timeout_seconds)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def get_bars(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Each symbol's bars; a symbol that fails is left out (the caller notes it), and
        when every symbol fails the first failure is raised as a :class:`DataError`."""
        if not symbols or end < start:
            return empty_bars()
        # local: yfinance costs ~1 s to import and only runs that need the fallback use it
        import yfinance as yf

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        yf.set_tz_cache_location(str(self.cache_dir))
        yf.config.network.retries = self.params.retry_attempts - 1
        yf.config.debug.hide_exceptions = False
        # yfinance memoises responses per URL in memory; our Parquet cache is the cache,
        # and a long-lived process (JupyterLab) must see what the server says now
        yf.data.YfData.cache_get.cache_clear()
        session = self._session()
        frames, failures = [], {}
        for symbol in symbols:
            try:
                with warnings.catch_warnings():  # yfinance's pandas deprecations are not the user's concern
                    warnings.simplefilter("ignore", DeprecationWarning)
                    warnings.simplefilter("ignore", FutureWarning)
                    frames.append(self._one(yf.Ticker(symbol, session=session), symbol, start, end))
            except Exception as exc:  # one symbol's failure must not stop the others
                failures[symbol] = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
                log.warning("yahoo: %s failed (%s)", symbol, failures[symbol])
        if failures and len(failures) == len(symbols):
            first = next(iter(failures.items()))
            raise DataError(f"Yahoo Finance failed for all {len(symbols)} symbol(s) (first, {first[0]}: {first[1]})")
        frames = [f for f in frames if not f.empty]
        return normalize_bars(pd.concat(frames, ignore_index=True)) if frames else empty_bars()

    def _one(self, ticker: Any, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        history = ticker.history(
            start=start.isoformat(),
            end=(end + dt.timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
            interval="1d",
            auto_adjust=True,
            actions=False,
            timeout=self.params.timeout_seconds,
            raise_errors=True,
        )
        if history.empty:
            return empty_bars()
        index = pd.DatetimeIndex(history.index)
        dates = index.tz_localize(None) if index.tz is not None else index
        return pd.DataFrame(
            {
                "symbol": symbol,
                "date": dates.normalize(),
                "open": history["Open"].to_numpy(),
                "high": history["High"].to_numpy(),
                "low": history["Low"].to_numpy(),
                "close": history["Close"].to_numpy(),
                "volume": history["Volume"].to_numpy(),
            }
        )
