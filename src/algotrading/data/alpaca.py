"""Daily bars from Alpaca's market data API through alpaca-py (paper and live modes).

Bars are split- and dividend-adjusted (``adjustment=all``) from one feed: ``sip``
(consolidated, what the strategies' volume rules expect; the free plan serves it for
requests ending at least 15 minutes in the past) or ``iex`` (one exchange, a few percent
of the volume). A plan that refuses the feed raises :class:`DataRefused`, so the source
chain (``algotrading.data.sources``) can ask IEX instead. The request never ends later
than 15 minutes before now, and a session's bar is kept only once it is final, so a run
during market hours never sees a partial bar. alpaca-py
follows ``next_page_token`` itself; each page is retried with exponential backoff on
429, 5xx, timeouts and dropped connections, then fails with a clear :class:`DataError`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

import pandas as pd
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from tenacity import RetryError, Retrying

from algotrading import calendar as cal
from algotrading.config import AlpacaDataParams
from algotrading.data.bars import DataError, DataRefused, empty_bars, normalize_bars
from algotrading.data.http import describe_error, harden_client, read_retrying, status_of

log = logging.getLogger(__name__)

#: Symbols per request: keeps URLs short; alpaca-py pages within each request.
SYMBOLS_PER_REQUEST = 50
#: The free plan refuses SIP data from the last 15 minutes (DESIGN §8).
RECENT_DATA_DELAY = dt.timedelta(minutes=15)


def to_alpaca_symbol(symbol: str) -> str:
    """Our ticker spelling -> Alpaca's (class shares use a dot: BRK-B -> BRK.B)."""
    return symbol.replace("-", ".")


def from_alpaca_symbol(symbol: str) -> str:
    return symbol.replace(".", "-")


class _RetryingDataClient(StockHistoricalDataClient):
    """alpaca-py's client with every page request wrapped in a tenacity retry."""

    def __init__(self, *args: Any, retrying: Callable[[], Retrying], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._retrying = retrying

    def get(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self._retrying()(super().get, path, data, **kwargs)


class AlpacaBarsProvider:
    """``BarsProvider`` backed by Alpaca's ``/v2/stocks/bars`` endpoint, one feed
    (``feed``, default the configured one); its name says which: ``alpaca-sip``."""

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        params: AlpacaDataParams,
        data_url: str | None = None,
        settle_minutes: int = cal.DEFAULT_SETTLE_MINUTES,
        now: Callable[[], dt.datetime] | None = None,
        feed: str | None = None,
    ) -> None:
        self.params = params
        self.feed = feed or params.feed
        self.name = f"alpaca-{self.feed}"
        self.settle_minutes = settle_minutes
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self._client = _RetryingDataClient(
            api_key, secret_key, raw_data=True, url_override=data_url, retrying=self._retrying
        )
        harden_client(self._client, params.timeout_seconds)

    def _retrying(self) -> Retrying:
        p = self.params
        return read_retrying(p.retry_attempts, p.retry_wait_seconds, p.retry_max_wait_seconds, "Alpaca data request")

    def unavailable(self, symbols: Sequence[str]) -> dict[str, str]:
        return {s: "an index: Alpaca's stock data does not offer it" for s in symbols if s.startswith("^")}

    def get_bars(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        now = self._now()
        last_final = cal.latest_completed_session(now, self.settle_minutes)
        end = min(end, last_final)
        skip = self.unavailable(symbols)
        wanted = [s for s in symbols if s not in skip]
        if not wanted or end < start:
            return empty_bars()
        start_at = dt.datetime.combine(start, dt.time(0, 0), tzinfo=cal.NY)
        end_at = min(
            dt.datetime.combine(end, dt.time(23, 59), tzinfo=cal.NY),
            now - RECENT_DATA_DELAY,
        )
        frames = [
            self._fetch(wanted[i : i + SYMBOLS_PER_REQUEST], start_at, end_at)
            for i in range(0, len(wanted), SYMBOLS_PER_REQUEST)
        ]
        bars = normalize_bars(pd.concat(frames, ignore_index=True)) if frames else empty_bars()
        keep = bars["date"].between(pd.Timestamp(start), pd.Timestamp(end))
        return bars.loc[keep].reset_index(drop=True)

    def _fetch(self, symbols: list[str], start_at: dt.datetime, end_at: dt.datetime) -> pd.DataFrame:
        request = StockBarsRequest(
            symbol_or_symbols=[to_alpaca_symbol(s) for s in symbols],
            timeframe=TimeFrame.Day,
            start=start_at,
            end=end_at,
            adjustment=Adjustment.ALL,
            feed=DataFeed(self.feed),
        )
        try:
            raw = self._client.get_stock_bars(request)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            assert last is not None  # read_retrying retries only on exceptions: the last try raised
            raise DataError(
                f"Alpaca market data failed after {self.params.retry_attempts} tries "
                f"(last error: {describe_error(last)}). Check the connection and "
                "https://status.alpaca.markets, then run again; cached bars are kept."
            ) from last
        except Exception as exc:
            if status_of(exc) in (403, 422):
                raise DataRefused(
                    f"Alpaca refused {self.feed.upper()} bars ({describe_error(exc)}): the account's data plan "
                    f"may not include feed={self.feed}"
                ) from exc
            raise DataError(self._explain(exc)) from exc
        return _raw_to_frame(cast(dict[str, list[dict[str, Any]]], raw))  # raw_data=True: a dict, not a BarSet

    def _explain(self, exc: Exception) -> str:
        status = status_of(exc)
        if status == 401:
            return (
                f"Alpaca refused the market data request ({describe_error(exc)}): check "
                "ALPACA_API_KEY / ALPACA_SECRET_KEY."
            )
        return f"Alpaca market data request failed ({describe_error(exc)})."


def _raw_to_frame(raw: dict[str, list[dict[str, Any]]]) -> pd.DataFrame:
    """alpaca-py raw bars ``{symbol: [{t, o, h, l, c, v, ...}]}`` -> bars frame.

    Daily bars are stamped at midnight New York time (e.g. ``05:00Z`` in winter); the
    session label is that instant's New York date.
    """
    rows = [
        (from_alpaca_symbol(symbol), bar["t"], bar["o"], bar["h"], bar["l"], bar["c"], bar["v"])
        for symbol, bars in (raw or {}).items()
        for bar in bars
        if bar is not None
    ]
    if not rows:
        return empty_bars()
    frame = pd.DataFrame(rows, columns=["symbol", "t", "open", "high", "low", "close", "volume"])
    stamps = pd.to_datetime(frame.pop("t"), utc=True).dt.tz_convert(cal.NY)
    frame["date"] = stamps.dt.tz_localize(None).dt.normalize()
    return normalize_bars(frame)
