"""Market data: the bars frame and provider protocol, the bundled and Alpaca providers,
the Parquet cache, and per-symbol validation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from algotrading import calendar as cal
from algotrading.config import Mode, Settings
from algotrading.data.bars import BarsProvider, DataError
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.cache import CachedBarsProvider
from algotrading.data.sources import Source, SourceChain

__all__ = ["BarsProvider", "DataError", "latest_session", "make_provider"]


def latest_session(settings: Settings, now: dt.datetime) -> dt.date:
    """The latest session the configured data has a final bar for: demo, the bundled
    data's last session; paper/live, the latest session whose bar is final at ``now``."""
    if settings.mode is Mode.DEMO:
        return BundledBarsProvider().last_session()
    return cal.latest_completed_session(now, settings.schedule.bar_settle_minutes)


def make_provider(settings: Settings, now: Callable[[], dt.datetime] | None = None) -> BarsProvider:
    """The provider for the configured mode: bundled prices in demo; in paper and live a
    :class:`~algotrading.data.sources.SourceChain` of Alpaca's configured feed (then IEX
    when that is SIP), then the fallback source, each behind its own Parquet cache
    (``ALGOTRADING_STATE_DIR/cache/bars-<source>``)."""
    if settings.mode is Mode.DEMO:
        return BundledBarsProvider()

    # local: alpaca-py costs ~0.3 s to import (0.69 s with pandas) and demo runs never need it
    from algotrading.data.alpaca import AlpacaBarsProvider
    from algotrading.data.yahoo import YahooBarsProvider  # local: only paper/live runs use the fallback

    alpaca = settings.alpaca
    assert alpaca.api_key is not None and alpaca.secret_key is not None  # guaranteed by mode
    params = settings.data.alpaca
    settle = settings.schedule.bar_settle_minutes
    cache = settings.paths.state_dir / "cache"

    def cached(inner: BarsProvider, key: str) -> CachedBarsProvider:
        return CachedBarsProvider(inner, cache / f"bars-{key}", now=now, settle_minutes=settle)

    feeds = [params.feed, "iex"] if params.feed == "sip" else [params.feed]
    sources = [
        Source(
            f"alpaca-{feed}",
            cached(
                AlpacaBarsProvider(
                    alpaca.api_key.get_secret_value(),
                    alpaca.secret_key.get_secret_value(),
                    params,
                    data_url=alpaca.data_url,
                    settle_minutes=settle,
                    now=now,
                    feed=feed,
                ),
                feed,
            ),
            "alpaca",
        )
        for feed in feeds
    ]
    fallback = settings.data.fallback
    if fallback.source == "yahoo":
        yahoo = YahooBarsProvider(fallback, cache / "yfinance", url=alpaca.fallback_data_url)
        sources.append(Source("yahoo", cached(yahoo, "yahoo"), "yahoo"))
    return SourceChain(sources, now=now, settle_minutes=settle)
