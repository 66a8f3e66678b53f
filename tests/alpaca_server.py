"""A local HTTP server that answers like Alpaca, for pointing alpaca-py at in tests.

It speaks the documented JSON of the market data endpoint ``GET /v2/stocks/bars``
(multi-symbol, ``next_page_token`` paging, bars stamped at midnight New York time),
checks the API key headers, records every request, and can be told to misbehave: the
next requests answer with a given HTTP status, or stall before answering.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pandas as pd

NY = ZoneInfo("America/New_York")
KEY, SECRET = "PKTESTKEY0000000001", "test-secret-0000000000000000000000000001"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Fault:
    """``status``: answer with this HTTP status; ``delay``: stall this long first."""

    status: int | None = None
    delay: float = 0.0


@dataclass
class FakeAlpaca:
    bars: pd.DataFrame = field(default_factory=pd.DataFrame)  # our long bars format
    page_size: int = 10_000
    requests: list[Recorded] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    _server: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> FakeAlpaca:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def hits(self, path: str) -> int:
        return sum(r.path == path for r in self.requests)

    # -- endpoints ------------------------------------------------------------------------
    def stock_bars(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        symbols = query["symbols"].split(",")
        if query.get("timeframe") != "1Day":
            return 422, {"code": 42210000, "message": f"unsupported timeframe {query.get('timeframe')}"}
        start = pd.Timestamp(query["start"]).tz_convert("UTC")
        end = pd.Timestamp(query["end"]).tz_convert("UTC") if "end" in query else pd.Timestamp.now(tz="UTC")
        ours = {s.replace(".", "-"): s for s in symbols}
        rows = self.bars[self.bars["symbol"].isin(list(ours))].copy()
        stamps = rows["date"].dt.tz_localize(NY).dt.tz_convert("UTC")
        rows = rows[(stamps >= start) & (stamps <= end)].assign(t=stamps)
        rows = rows.sort_values(["symbol", "t"])
        offset = int(base64.b64decode(query["page_token"]).decode()) if query.get("page_token") else 0
        limit = min(int(query.get("limit", 1000)), self.page_size)
        page = rows.iloc[offset : offset + limit]
        out: dict[str, list[dict[str, Any]]] = {}
        for r in page.itertuples():
            out.setdefault(ours[r.symbol], []).append(
                {
                    "t": r.t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "o": r.open, "h": r.high, "l": r.low, "c": r.close,
                    "v": r.volume, "n": 1000, "vw": round((r.high + r.low + r.close) / 3, 4),
                }
            )
        more = offset + limit < len(rows)
        token = base64.b64encode(str(offset + limit).encode()).decode() if more else None
        return 200, {"bars": out, "next_page_token": token}


def _handler_for(fake: FakeAlpaca) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
            fake.requests.append(Recorded("GET", parsed.path, query, dict(self.headers)))
            fault = fake.faults.popleft() if fake.faults else None
            if fault and fault.delay:
                time.sleep(fault.delay)
            if fault and fault.status:
                self._reply(fault.status, {"code": fault.status * 100000, "message": f"injected HTTP {fault.status}"})
                return
            if self.headers.get("APCA-API-KEY-ID") != KEY or self.headers.get("APCA-API-SECRET-KEY") != SECRET:
                self._reply(401, {"code": 40110000, "message": "request is not authorized"})
                return
            if parsed.path == "/v2/stocks/bars":
                self._reply(*fake.stock_bars(query))
            else:
                self._reply(404, {"code": 40410000, "message": f"no route {parsed.path}"})

    return Handler
