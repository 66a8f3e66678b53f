"""Market data: the bars frame and provider protocol, the bundled and Alpaca providers,
the Parquet cache, and per-symbol validation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from algotrading.config import Mode, Settings
from algotrading.data.bars import BarsProvider, DataError

__all__ = ["BarsProvider", "DataError", "make_provider"]


def make_provider(settings: Settings, now: Callable[[], dt.datetime] | None = None) -> BarsProvider:
    """The provider for the configured mode: bundled prices in demo, Alpaca behind the
    Parquet cache (``ALGOTRADING_STATE_DIR/cache/bars-<feed>``) in paper and live."""
    if settings.mode is Mode.DEMO:
        from algotrading.data.bundled import BundledBarsProvider

        return BundledBarsProvider()

    from algotrading.data.alpaca import AlpacaBarsProvider
    from algotrading.data.cache import CachedBarsProvider

    alpaca = settings.alpaca
    assert alpaca.api_key is not None and alpaca.secret_key is not None  # guaranteed by mode
    params = settings.data.alpaca
    inner = AlpacaBarsProvider(
        alpaca.api_key.get_secret_value(),
        alpaca.secret_key.get_secret_value(),
        params,
        data_url=alpaca.data_url,
        settle_minutes=settings.schedule.bar_settle_minutes,
        now=now,
    )
    cache_dir = settings.paths.state_dir / "cache" / f"bars-{params.feed}"
    return CachedBarsProvider(inner, cache_dir, now=now, settle_minutes=settings.schedule.bar_settle_minutes)
