"""The Alpaca bars provider: alpaca-py itself, pointed at a local server speaking
Alpaca's JSON. Paging, the 15-minute rule, partial bars, retries and timeouts."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from algotrading.config import AlpacaDataParams, load_settings
from algotrading.data.alpaca import AlpacaBarsProvider
from algotrading.data.bars import DataError
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.snapshot import load_snapshot

from .alpaca_server import KEY, SECRET, FakeAlpaca, Fault

NY = ZoneInfo("America/New_York")
SYMBOLS = ["AAPL", "BRK-B", "XOM"]
START, END = dt.date(2025, 12, 1), dt.date(2025, 12, 31)
AFTER_CLOSE = dt.datetime(2025, 12, 31, 17, 0, tzinfo=NY)


def params(**over) -> AlpacaDataParams:
    base = dict(feed="iex", timeout_seconds=2.0, retry_attempts=3, retry_wait_seconds=0.01, retry_max_wait_seconds=0.05)
    return AlpacaDataParams(**(base | over))


@pytest.fixture
def server():
    bundled = BundledBarsProvider()
    fake = FakeAlpaca(bars=bundled.get_bars(SYMBOLS, dt.date(2025, 1, 2), END)).start()
    yield fake
    fake.stop()


def provider(server: FakeAlpaca, now: dt.datetime = AFTER_CLOSE, key: str = KEY, **over) -> AlpacaBarsProvider:
    return AlpacaBarsProvider(key, SECRET, params(**over), data_url=server.url, now=lambda: now)


def expected(symbols=SYMBOLS, start=START, end=END) -> pd.DataFrame:
    return BundledBarsProvider().get_bars(symbols, start, end)


def test_pages_are_followed_and_bars_match(server):
    server.page_size = 7
    got = provider(server).get_bars(SYMBOLS, START, END)
    pd.testing.assert_frame_equal(got, expected())
    rows = len(expected())
    assert rows == 3 * 22
    assert server.hits("/v2/stocks/bars") == -(-rows // 7)  # ceil: every page fetched once
    first = server.requests[0].query
    assert first["symbols"] == "AAPL,BRK.B,XOM"  # Alpaca spells class shares with a dot
    assert (first["timeframe"], first["adjustment"], first["feed"]) == ("1Day", "all", "iex")
    assert [r.query.get("page_token") for r in server.requests][:2] == [None, "Nw=="]


def test_request_ends_15_minutes_before_now_and_partial_bar_is_dropped(server):
    during_session = dt.datetime(2025, 12, 31, 14, 0, tzinfo=NY)
    got = provider(server, now=during_session).get_bars(SYMBOLS, START, END)
    end_param = pd.Timestamp(server.requests[-1].query["end"])
    assert end_param <= pd.Timestamp(during_session) - pd.Timedelta(minutes=15)
    # the server returned today's (partial) bar, stamped at midnight; it is not kept
    assert got["date"].max() == pd.Timestamp("2025-12-30")
    pd.testing.assert_frame_equal(got, expected(end=dt.date(2025, 12, 30)))


def test_a_429_is_retried_then_succeeds(server):
    server.faults.append(Fault(status=429))
    got = provider(server).get_bars(SYMBOLS, START, END)
    pd.testing.assert_frame_equal(got, expected())
    assert server.hits("/v2/stocks/bars") == 2  # one 429, one success: alpaca-py's own retry is off


def test_repeated_500_ends_in_a_clear_error(server):
    server.faults.extend(Fault(status=500) for _ in range(5))
    with pytest.raises(DataError) as info:
        provider(server).get_bars(SYMBOLS, START, END)
    message = str(info.value)
    assert message.startswith("Alpaca market data failed after 3 tries (last error: HTTP 500")
    assert "status.alpaca.markets" in message
    assert server.hits("/v2/stocks/bars") == 3


def test_a_slow_server_hits_the_timeout(server):
    server.faults.extend(Fault(delay=1.5) for _ in range(3))
    started = time.monotonic()
    with pytest.raises(DataError, match=r"failed after 2 tries \(last error: timed out"):
        provider(server, timeout_seconds=0.25, retry_attempts=2).get_bars(SYMBOLS, START, END)
    assert time.monotonic() - started < 1.4  # two 0.25 s timeouts, not two 1.5 s waits
    assert server.hits("/v2/stocks/bars") == 2


def test_rejected_keys_are_not_retried(server):
    with pytest.raises(DataError) as info:
        provider(server, key="PKWRONGKEY").get_bars(SYMBOLS, START, END)
    assert "HTTP 401" in str(info.value) and "ALPACA_API_KEY" in str(info.value)
    assert server.hits("/v2/stocks/bars") == 1


def test_snapshot_over_alpaca_explains_the_missing_index(server, workdirs):
    settings = load_settings()
    universe = settings.universe.model_copy(update={"groups": {"stocks": ["AAPL", "XOM"]}, "benchmark": "BRK-B"})
    snap = load_snapshot(provider(server), universe, END, settings.data)
    health = snap.health.set_index("symbol")
    assert health.loc["^VIX", "status"] == "excluded"
    assert health.loc["^VIX", "reason"] == "no data: an index: Alpaca's stock data does not offer it"
    assert not any(r.query["symbols"].count("^") for r in server.requests)
    assert health.loc[["AAPL", "XOM", "BRK-B"], "status"].tolist() == ["ok", "ok", "ok"]
