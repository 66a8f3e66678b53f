"""A local HTTP server that answers like Yahoo Finance, for pointing yfinance at in tests.

It speaks the chart endpoint yfinance reads daily bars from
(``GET /v8/finance/chart/{symbol}?period1=&period2=&interval=1d``: ``meta``,
``timestamp`` at each session's open, ``indicators.quote`` and ``adjclose``), Yahoo's
cookie page (``/``) and ``/v1/test/getcrumb``. The bars given are already adjusted, so
``adjclose`` equals ``close``. It records every request and can be told to answer a
path with an HTTP status (or Yahoo's "No data found" error for a symbol). FakeAlpaca
embeds one and answers these paths on its own port, from its own bars.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pandas as pd

from algotrading import calendar as cal


@dataclass
class FakeYahoo:
    bars: pd.DataFrame = field(default_factory=pd.DataFrame)  # our long bars format
    fail: dict[str, int] = field(default_factory=dict)  # path prefix -> HTTP status, every time
    missing: set[str] = field(default_factory=set)  # symbols Yahoo says it has no data for
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def start(self) -> FakeYahoo:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def chart_requests(self, symbol: str | None = None) -> list[dict[str, str]]:
        """Query strings of the chart requests that asked for bars (not the timezone probe)."""
        prefix = "/v8/finance/chart/" + (symbol or "")
        return [q for p, q in self.requests if p.startswith(prefix) and "period1" in q]

    def serves(self, path: str) -> bool:
        """Whether ``path`` is one of Yahoo's (so FakeAlpaca can serve both on one port)."""
        return path in ("/", "/v1/test/getcrumb") or path.startswith(("/v8/finance/chart/", "/v10/finance/"))

    def route(self, path: str, query: dict[str, str], bars: pd.DataFrame | None = None) -> tuple[int, Any, str]:
        """(status, body, content type) for one GET; ``bars`` when this has none of its own."""
        self.requests.append((path, query))
        for prefix, status in self.fail.items():
            if path.startswith(prefix):
                return status, "Too Many Requests" if status == 429 else f"injected HTTP {status}", "text/plain"
        if path == "/":
            return 200, "<html>ok</html>", "text/html"
        if path == "/v1/test/getcrumb":
            return 200, "testcrumb0", "text/plain"
        if path.startswith("/v8/finance/chart/"):
            source = self.bars if not self.bars.empty or bars is None else bars
            return (*self.chart(unquote(path.rsplit("/", 1)[1]), query, source), "application/json")
        if path.startswith("/v10/finance/quoteSummary/"):  # yfinance asks it for a symbol the chart lacks
            symbol = unquote(path.rsplit("/", 1)[1])
            error = {"code": "Not Found", "description": f"Quote not found for symbol: {symbol}"}
            return 404, {"quoteSummary": {"result": None, "error": error}}, "application/json"
        return 404, {"error": f"no route {path}"}, "application/json"

    def chart(self, symbol: str, query: dict[str, str], bars: pd.DataFrame) -> tuple[int, Any]:
        if symbol in self.missing or bars.empty or symbol not in set(bars["symbol"]):
            error = {"code": "Not Found", "description": "No data found, symbol may be delisted"}
            return 404, {"chart": {"result": None, "error": error}}
        rows = bars[bars["symbol"] == symbol].sort_values("date")
        opens = [cal.session_open(d.date()) for d in rows["date"]]
        if "period1" in query:
            lo = dt.datetime.fromtimestamp(int(query["period1"]), dt.UTC)
            hi = dt.datetime.fromtimestamp(int(query["period2"]), dt.UTC)
            keep = [lo <= t < hi for t in opens]
        else:  # yfinance's timezone probe: range=1d
            keep = [i == len(opens) - 1 for i in range(len(opens))]
        rows = rows[keep]
        stamps = [int(t.timestamp()) for t, k in zip(opens, keep, strict=True) if k]
        close = rows["close"].round(4).tolist()
        last = stamps[-1] if stamps else 0
        period = {"timezone": "EST", "start": last, "end": last + 23400, "gmtoffset": -18000}
        meta = {
            "currency": "USD",
            "symbol": symbol,
            "exchangeName": "NYQ",
            "fullExchangeName": "NYSE",
            "instrumentType": "INDEX" if symbol.startswith("^") else "EQUITY",
            "firstTradeDate": stamps[0] if stamps else 0,
            "regularMarketTime": last,
            "hasPrePostMarketData": True,
            "gmtoffset": -18000,
            "timezone": "EST",
            "exchangeTimezoneName": "America/New_York",
            "regularMarketPrice": close[-1] if close else None,
            "chartPreviousClose": close[0] if close else None,
            "priceHint": 2,
            "currentTradingPeriod": {"pre": period, "regular": period, "post": period},
            "dataGranularity": "1d",
            "range": "",
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        }
        quote = {c: rows[c].round(4).tolist() for c in ("open", "high", "low", "close")}
        quote["volume"] = rows["volume"].astype("int64").tolist()
        indicators = {"quote": [quote], "adjclose": [{"adjclose": close}]}
        result = {"meta": meta, "timestamp": stamps, "indicators": indicators}
        return 200, {"chart": {"result": [result], "error": None}}


def _handler_for(fake: FakeYahoo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _reply(self, status: int, body: Any, content_type: str) -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                if self.path == "/":
                    self.send_header("Set-Cookie", "A3=d=test; Domain=127.0.0.1; Path=/; Max-Age=31536000")
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
            self._reply(*fake.route(parsed.path, query))

    return Handler
