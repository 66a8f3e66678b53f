"""The paper/live source chain: Alpaca SIP, then IEX when SIP is refused, then Yahoo
(yfinance itself, pointed at the fake's Yahoo chart API) for ^VIX and for whatever
Alpaca cannot serve. Each symbol's source and the reason it is not the first one are
recorded."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from algotrading.config import FallbackParams, Universe, load_settings
from algotrading.data import make_provider
from algotrading.data.bars import DataError, sourced_bars
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.snapshot import load_snapshot
from algotrading.data.yahoo import YahooBarsProvider

from .alpaca_server import FakeAlpaca, Fault
from .yahoo_server import FakeYahoo

NY = ZoneInfo("America/New_York")
SYMBOLS = ["AAPL", "BRK-B", "XOM", "SPY", "^VIX"]
START, END = dt.date(2025, 12, 1), dt.date(2025, 12, 31)
AFTER_CLOSE = dt.datetime(2025, 12, 31, 17, 0, tzinfo=NY)


@pytest.fixture
def fake(workdirs, monkeypatch):
    bars = BundledBarsProvider().get_bars(SYMBOLS, dt.date(2025, 11, 3), END)
    server = FakeAlpaca(bars=bars).start()
    for key, value in server.environment().items():
        monkeypatch.setenv(key, value)
    data_yaml = workdirs["params"] / "data.yaml"  # retries in milliseconds, not seconds
    data_yaml.write_text(data_yaml.read_text().replace("retry_wait_seconds: 1.0", "retry_wait_seconds: 0.01"))
    yield server
    server.stop()


def chain():
    return make_provider(load_settings(), now=lambda: AFTER_CLOSE)


def bundled(symbols=SYMBOLS) -> pd.DataFrame:
    return BundledBarsProvider().get_bars(symbols, START, END)


def feeds(server: FakeAlpaca) -> list[str]:
    return [r.query["feed"] for r in server.requests if r.path == "/v2/stocks/bars"]


def test_sip_by_default_and_vix_from_yahoo(fake):
    got = sourced_bars(chain(), SYMBOLS, START, END)
    assert feeds(fake) == ["sip"]
    assert got.sources == {"AAPL": "alpaca-sip", "BRK-B": "alpaca-sip", "XOM": "alpaca-sip", "SPY": "alpaca-sip",
                           "^VIX": "yahoo"}  # fmt: skip
    assert got.notes == {"^VIX": "alpaca-sip: an index: Alpaca's stock data does not offer it"}
    # yfinance parsed Yahoo's chart JSON back into the same adjusted bars (22 sessions each)
    pd.testing.assert_frame_equal(got.bars, bundled())
    assert len(fake.yahoo.chart_requests("%5EVIX")) + len(fake.yahoo.chart_requests("^VIX")) == 1


def test_a_refused_sip_feed_falls_back_to_iex_with_a_note(fake):
    fake.sip_allowed = False
    fake.iex_volume_share = 0.03
    got = sourced_bars(chain(), ["AAPL", "XOM"], START, END)
    assert feeds(fake) == ["sip", "iex"]
    assert set(got.sources.values()) == {"alpaca-iex"}
    note = got.notes["AAPL"]
    assert note.startswith("alpaca-sip refused: Alpaca refused SIP bars (HTTP 403")
    assert "subscription does not permit querying recent SIP data" in note
    ratio = got.bars["volume"].sum() / bundled(["AAPL", "XOM"])["volume"].sum()
    assert ratio == pytest.approx(0.03, abs=1e-6)  # IEX's few percent of the volume, not SIP's
    # each source has its own cache: the IEX bars never land in the SIP cache
    state = load_settings().paths.state_dir / "cache"
    assert (state / "bars-iex" / "AAPL.parquet").is_file() and not (state / "bars-sip" / "AAPL.parquet").exists()


def test_an_alpaca_data_outage_is_served_by_yahoo_without_asking_iex(fake):
    for _ in range(4):  # every try of the retrying read
        fake.faults.append(Fault(status=503, path="/v2/stocks/bars"))
    got = sourced_bars(chain(), SYMBOLS, START, END)
    assert feeds(fake) == ["sip"] * 4  # four tries, then no IEX request: an outage fails both feeds
    assert set(got.sources.values()) == {"yahoo"}
    assert got.notes["AAPL"].startswith("alpaca-sip failed: Alpaca market data failed after 4 tries")
    pd.testing.assert_frame_equal(got.bars, bundled())


def test_a_symbol_alpaca_has_no_bar_for_comes_from_yahoo(fake):
    last = pd.Timestamp(END)
    alpaca_bars = fake.bars
    fake.yahoo.bars = alpaca_bars.copy()  # Yahoo has every bar ...
    fake.bars = alpaca_bars[~((alpaca_bars["symbol"] == "XOM") & (alpaca_bars["date"] == last))]  # ... Alpaca lacks one
    got = sourced_bars(chain(), ["AAPL", "XOM"], START, END)
    assert got.sources == {"AAPL": "alpaca-sip", "XOM": "yahoo"}
    lacks = "no bar for 2025-12-31 (last 2025-12-30)"
    assert got.notes == {"XOM": f"alpaca-sip: {lacks}; alpaca-iex: {lacks}"}
    assert got.bars[got.bars["symbol"] == "XOM"]["date"].max() == last


def test_the_health_table_records_each_symbols_source(fake):
    fake.yahoo.missing = {"^VIX"}
    universe = Universe(groups={"tech": ["AAPL"], "value": ["BRK-B", "XOM"]}, benchmark="SPY", volatility_index="^VIX")
    s = load_settings()
    snap = load_snapshot(chain(), universe, END, s.data, start=START)
    health = snap.health.set_index("symbol")
    assert health.loc["AAPL", "source"] == "alpaca-sip" and health.loc["AAPL", "source_note"] == ""
    assert health.loc["^VIX", "status"] == "excluded" and health.loc["^VIX", "source"] == ""
    assert "yahoo failed: Yahoo Finance failed for all 1 symbol(s)" in health.loc["^VIX", "source_note"]
    assert "No data found, symbol may be delisted" in health.loc["^VIX", "source_note"]
    assert snap.provider == "alpaca-sip"


def test_with_no_fallback_vix_is_unavailable_and_nothing_asks_yahoo(fake, monkeypatch, workdirs):
    data_yaml = workdirs["params"] / "data.yaml"
    data_yaml.write_text(data_yaml.read_text().replace("source: yahoo", "source: none"))
    got = sourced_bars(chain(), SYMBOLS, START, END)
    assert "^VIX" not in got.sources and fake.yahoo.requests == []
    assert chain().unavailable(["^VIX", "SPY"]) == {
        "^VIX": "alpaca-sip: an index: Alpaca's stock data does not offer it; alpaca-iex: an index: Alpaca's "
        "stock data does not offer it"
    }


def test_when_every_source_fails_the_run_stops_with_each_reason(fake):
    for _ in range(4):
        fake.faults.append(Fault(status=503, path="/v2/stocks/bars"))
    fake.yahoo.fail = {"/v8/finance/chart/": 503}
    universe = Universe(groups={"tech": ["AAPL"]}, benchmark="SPY", volatility_index="^VIX")
    with pytest.raises(Exception, match="no symbol of the universe has usable data for 2025-12-31"):
        load_snapshot(chain(), universe, END, load_settings().data, start=START)


def test_yahoo_rate_limiting_is_a_clear_data_error(tmp_path):
    yahoo = FakeYahoo(bars=bundled(["SPY"]), fail={"/v8/finance/chart/": 429}).start()
    try:
        provider = YahooBarsProvider(
            FallbackParams(source="yahoo", timeout_seconds=5, retry_attempts=1), tmp_path, yahoo.url
        )
        with pytest.raises(
            DataError, match=r"Yahoo Finance failed for all 1 symbol\(s\) \(first, SPY: YFRateLimitError"
        ):
            provider.get_bars(["SPY"], START, END)
        yahoo.fail = {}
        got = provider.get_bars(["SPY"], START, END)  # nothing memoised from the failure
        pd.testing.assert_frame_equal(got, bundled(["SPY"]))
        asked = yahoo.chart_requests("SPY")[-1]
        assert (asked["interval"], asked["period1"]) == (
            "1d",
            str(int(dt.datetime(2025, 12, 1, tzinfo=NY).timestamp())),
        )
    finally:
        yahoo.stop()
