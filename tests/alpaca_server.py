"""A local HTTP server that answers like Alpaca, for pointing alpaca-py at in tests.

It speaks the documented JSON of the market data endpoint ``GET /v2/stocks/bars``
(multi-symbol, ``next_page_token`` paging, bars stamped at midnight New York time) and of
the trading API: ``/v2/account``, ``/v2/positions``, ``/v2/assets`` and ``/v2/assets/{symbol}``, ``/v2/orders``
(POST, GET open, GET ``:by_client_order_id``, DELETE ``/{id}``) and ``/v2/clock``; money
fields are strings, as Alpaca sends them. It checks the key headers, enforces unique
client order ids (422) and buying power (403), records every request, serves more than one
account (each by its own keys: :meth:`FakeAlpaca.add_account`, as a paper and a live account
of one user are two accounts at Alpaca), and can be told to misbehave: answer the next
matching request with an HTTP status, stall, or do the work and then fail (the order is
created, the client sees an error).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from zoneinfo import ZoneInfo

import pandas as pd

from algotrading import calendar as cal

from .yahoo_server import FakeYahoo

NY = ZoneInfo("America/New_York")
KEY, SECRET = "PKTESTKEY0000000001", "test-secret-0000000000000000000000000001"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any] | None = None


@dataclass
class Fault:
    """Misbehaviour for the next request matching ``method``/``path`` (None: any).

    ``status``: answer with it; ``delay``: stall first; ``after_work``: do the real work
    (e.g. create the order), then fail - the client cannot tell whether it worked."""

    status: int | None = None
    delay: float = 0.0
    method: str | None = None
    path: str | None = None
    after_work: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or path.startswith(self.path))


def _iso(t: dt.datetime | None = None) -> str:
    return (t or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeAlpaca:
    bars: pd.DataFrame = field(default_factory=pd.DataFrame)  # our long bars format
    page_size: int = 10_000
    requests: list[Recorded] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    # trading state
    account_number: str = "PA3TESTACCT1"
    account_status: str = "ACTIVE"
    blocked: bool = False
    cash: float = 1000.0
    positions: dict[str, dict[str, float]] = field(default_factory=dict)  # symbol -> {qty, avg, price}
    assets: dict[str, dict[str, Any]] = field(default_factory=dict)  # symbol -> {tradable, fractionable}
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> order JSON
    no_buying_power_for: set[str] = field(default_factory=set)
    sip_allowed: bool = True  # False: the plan refuses SIP bars (403), as Alpaca does
    iex_volume_share: float = 1.0  # IEX bars' volume as a share of the consolidated volume in ``bars``
    yahoo: FakeYahoo = field(default_factory=FakeYahoo)  # Yahoo's chart API on the same port (FALLBACK_DATA_URL)
    clock_at: dt.datetime | None = None  # what /v2/clock says it is (None: now); open/close from the NYSE calendar
    key: str = KEY  # the keys this account answers to
    secret: str = SECRET
    accounts: dict[str, FakeAlpaca] = field(default_factory=dict)  # other accounts on this server, by key id
    parent: FakeAlpaca | None = None  # an account added to another's server: its assets are the server's
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    # the last bars query's rows, for its next pages: (the bars frame, the query, the rows)
    _bars_query: tuple[pd.DataFrame, tuple[Any, ...], dict[str, list[Any]]] | None = None

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

    def environment(self) -> dict[str, str]:
        """The variables that point AlgoTrading (and alpaca-py) at this server, with its keys."""
        return {
            "ALPACA_API_KEY": KEY,
            "ALPACA_SECRET_KEY": SECRET,
            "ALPACA_BASE_URL": self.url,
            "ALPACA_DATA_URL": self.url,
            "FALLBACK_DATA_URL": self.url,
        }

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def hits(self, path: str, method: str | None = None) -> int:
        return sum(r.path == path and (method is None or r.method == method) for r in self.requests)

    def add_account(self, key: str, secret: str, account_number: str, cash: float = 1000.0) -> FakeAlpaca:
        """Another account on this server, with its own cash, positions and orders, answered
        for requests signed with its keys; the market data, the clock and the assets are this
        server's. Returns it (fill its orders with its own :meth:`fill`)."""
        other = FakeAlpaca(account_number=account_number, cash=cash, key=key, secret=secret, parent=self)
        self.accounts[key] = other
        return other

    #: Paths every account of the server shares (answered by the server's own account).
    SHARED_PATHS = ("/v2/stocks/bars", "/v2/clock", "/v2/assets")

    def account_for(self, key: str | None, secret: str | None) -> FakeAlpaca | None:
        """The account these keys open, or None (HTTP 401)."""
        account = self if key == self.key else self.accounts.get(key or "")
        return account if account is not None and secret == account.secret else None

    # -- helpers for tests ------------------------------------------------------------------
    def by_cid(self, cid: str) -> dict[str, Any] | None:
        return next((o for o in self.orders.values() if o["client_order_id"] == cid), None)

    def fill(self, cid: str, price: float, qty: float | None = None) -> None:
        """Fill (or with ``qty``, partially fill) an order and update cash and positions."""
        with self._lock:
            o = self.by_cid(cid)
            assert o is not None, cid
            total = float(o["qty"]) if o["qty"] is not None else float(o["notional"]) / price
            done = total if qty is None else qty
            o.update(
                filled_qty=str(done),
                filled_avg_price=str(price),
                status="filled" if qty is None else "partially_filled",
                filled_at=_iso(),
                updated_at=_iso(),
            )
            sign = 1 if o["side"] == "buy" else -1
            pos = self.positions.setdefault(o["symbol"], {"qty": 0.0, "avg": price, "price": price})
            if sign > 0:
                pos["avg"] = (pos["avg"] * pos["qty"] + price * done) / (pos["qty"] + done)
            pos["qty"] += sign * done
            pos["price"] = price
            self.cash -= sign * done * price
            if pos["qty"] <= 1e-9:
                del self.positions[o["symbol"]]

    def order_json(self, body: dict[str, Any]) -> dict[str, Any]:
        now = _iso()
        return {
            "id": str(uuid.uuid4()),
            "client_order_id": body["client_order_id"],
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "expired_at": None,
            "expires_at": None,
            "canceled_at": None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": str(uuid.uuid4()),
            "symbol": body["symbol"],
            "asset_class": "us_equity",
            "notional": str(body["notional"]) if body.get("notional") is not None else None,
            "qty": str(body["qty"]) if body.get("qty") is not None else None,
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": "simple",
            "order_type": "market",
            "type": "market",
            "side": body["side"],
            "time_in_force": body["time_in_force"],
            "limit_price": None,
            "stop_price": None,
            "status": "accepted",
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
        }

    def add_order(
        self,
        symbol: str,
        side: str,
        cid: str,
        status: str = "accepted",
        notional: float | None = 100.0,
        qty: float | None = None,
    ) -> dict[str, Any]:
        o = self.order_json(
            {
                "symbol": symbol,
                "side": side,
                "client_order_id": cid,
                "notional": notional,
                "qty": qty,
                "time_in_force": "day",
            }
        )
        o["status"] = status
        self.orders[o["id"]] = o
        return o

    # -- endpoints ------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None) -> tuple[int, Any]:
        if path == "/v2/stocks/bars":
            return self.stock_bars(query)
        if path == "/v2/account" and method == "GET":
            return 200, self.account_json()
        if path == "/v2/positions" and method == "GET":
            return 200, [self.position_json(s, p) for s, p in sorted(self.positions.items())]
        if path == "/v2/assets" and method == "GET":  # every asset, as Alpaca lists them (status=active)
            return 200, [self.asset_json(s) for s in sorted(self.assets)]
        if path.startswith("/v2/assets/") and method == "GET":
            symbol = unquote(path.rsplit("/", 1)[1])
            if symbol not in self.assets:
                return 404, {"code": 40410000, "message": f"asset not found for {symbol}"}
            return 200, self.asset_json(symbol)
        if path == "/v2/orders" and method == "POST":
            return self.create_order(body or {})
        if path == "/v2/orders" and method == "GET":
            wanted = query.get("status", "open")
            open_states = {"new", "accepted", "pending_new", "partially_filled"}
            rows = [o for o in self.orders.values() if wanted != "open" or o["status"] in open_states]
            return 200, rows
        if path == "/v2/orders:by_client_order_id" and method == "GET":
            o = self.by_cid(query.get("client_order_id", ""))
            return (200, o) if o else (404, {"code": 40410000, "message": "order not found"})
        if path.startswith("/v2/orders/") and method == "DELETE":
            oid = path.rsplit("/", 1)[1]
            if oid not in self.orders:
                return 404, {"code": 40410000, "message": "order not found"}
            self.orders[oid]["status"] = "canceled"
            return 204, None
        if path == "/v2/clock":
            return 200, self.clock_json()
        return 404, {"code": 40410000, "message": f"no route {method} {path}"}

    def clock_json(self) -> dict[str, Any]:
        """Alpaca's clock (timestamps in New York time with their offset), from the NYSE calendar."""
        now = (self.clock_at or dt.datetime.now(dt.UTC)).astimezone(NY)
        day = now.date()
        session = cal.is_session(day)
        is_open = session and cal.session_open(day) <= now < cal.session_close(day)
        next_open = cal.session_open(day if session and now < cal.session_open(day) else cal.next_session(day))
        next_close = cal.session_close(day if session and now < cal.session_close(day) else cal.next_session(day))
        return {
            "timestamp": now.isoformat(),
            "is_open": is_open,
            "next_open": next_open.isoformat(),
            "next_close": next_close.isoformat(),
        }

    def account_json(self) -> dict[str, Any]:
        value = sum(p["qty"] * p["price"] for p in self.positions.values())
        pending = sum(
            float(o["notional"] or 0) for o in self.orders.values() if o["side"] == "buy" and o["status"] == "accepted"
        )
        money = lambda x: f"{x:.2f}"  # noqa: E731
        return {
            "id": str(uuid.uuid4()),
            "account_number": self.account_number,
            "status": self.account_status,
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": money(max(self.cash - pending, 0)),
            "regt_buying_power": money(self.cash),
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": money(self.cash),
            "cash": money(self.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "portfolio_value": money(self.cash + value),
            "pattern_day_trader": False,
            "trading_blocked": self.blocked,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": "2024-01-02T14:00:00Z",
            "trade_suspended_by_user": False,
            "multiplier": "1",
            "shorting_enabled": False,
            "equity": money(self.cash + value),
            "last_equity": money(self.cash + value),
            "long_market_value": money(value),
            "short_market_value": "0",
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
        }

    def position_json(self, symbol: str, p: dict[str, float]) -> dict[str, Any]:
        return {
            "asset_id": str(uuid.uuid4()),
            "symbol": symbol,
            "exchange": "NYSE",
            "asset_class": "us_equity",
            "avg_entry_price": str(p["avg"]),
            "qty": str(p["qty"]),
            "qty_available": str(p["qty"]),
            "side": "long",
            "market_value": str(p["qty"] * p["price"]),
            "cost_basis": str(p["qty"] * p["avg"]),
            "unrealized_pl": str(p["qty"] * (p["price"] - p["avg"])),
            "unrealized_plpc": "0",
            "unrealized_intraday_pl": "0",
            "unrealized_intraday_plpc": "0",
            "current_price": str(p["price"]),
            "lastday_price": str(p["price"]),
            "change_today": "0",
        }

    def asset_json(self, symbol: str) -> dict[str, Any]:
        a = self.assets[symbol]
        return {
            "id": str(uuid.uuid4()),
            "class": "us_equity",
            "exchange": "NYSE",
            "symbol": symbol,
            "name": symbol,
            "status": "active",
            "tradable": a.get("tradable", True),
            "marginable": True,
            "shortable": False,
            "easy_to_borrow": False,
            "fractionable": a.get("fractionable", True),
        }

    def create_order(self, body: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            if self.by_cid(body.get("client_order_id", "")) is not None:
                return 422, {"code": 40010001, "message": "client_order_id must be unique"}
            if body.get("time_in_force") != "day" or body.get("type") != "market":
                return 422, {"code": 42210000, "message": "only DAY market orders in this fake"}
            if (body.get("notional") is None) == (body.get("qty") is None):
                return 422, {"code": 42210000, "message": "qty or notional is required, not both"}
            symbol = body["symbol"]
            assets = self.parent.assets if self.parent is not None else self.assets
            asset = assets.get(symbol, {"tradable": True, "fractionable": True})
            if not asset.get("tradable", True):
                return 422, {"code": 42210000, "message": f"asset {symbol} is not tradable"}
            if body.get("notional") is not None and not asset.get("fractionable", True):
                return 422, {"code": 42210000, "message": f"asset {symbol} is not fractionable"}
            if body["side"] == "buy" and (
                symbol in self.no_buying_power_for
                or float(body.get("notional") or 0) > float(self.account_json()["buying_power"])
            ):
                return 403, {"code": 40310000, "message": "insufficient buying power"}
            order = self.order_json(body)
            self.orders[order["id"]] = order
            return 200, order

    def _query_rows(self, ours: dict[str, str], first: str, last: str | None) -> dict[str, list[Any]]:
        """The bars of a query, in Alpaca's order (symbol, then time), as column lists: made
        once per query and kept for its next pages (alpaca-py asks page after page), made
        again when ``bars`` is replaced or another query comes."""
        key = (tuple(ours), first, last)
        kept = self._bars_query
        if kept is not None and kept[0] is self.bars and kept[1] == key:
            return kept[2]
        start = pd.Timestamp(first).tz_convert("UTC")
        end = pd.Timestamp(last).tz_convert("UTC") if last is not None else pd.Timestamp.now(tz="UTC")
        rows = self.bars[self.bars["symbol"].isin(list(ours))].copy()
        stamps = rows["date"].dt.tz_localize(NY).dt.tz_convert("UTC")
        rows = rows[(stamps >= start) & (stamps <= end)].assign(t=stamps)
        rows = rows.sort_values(["symbol", "t"])
        columns = {
            "symbol": rows["symbol"].tolist(),
            "t": rows["t"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist(),
            **{k: rows[c].tolist() for k, c in (("o", "open"), ("h", "high"), ("l", "low"), ("c", "close"))},
            "v": rows["volume"].tolist(),
        }
        self._bars_query = (self.bars, key, columns)
        return columns

    def stock_bars(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        symbols = query["symbols"].split(",")
        feed = query.get("feed", "sip")
        if feed == "sip" and not self.sip_allowed:
            return 403, {"code": 40310000, "message": "subscription does not permit querying recent SIP data"}
        if query.get("timeframe") != "1Day":
            return 422, {"code": 42210000, "message": f"unsupported timeframe {query.get('timeframe')}"}
        ours = {s.replace(".", "-"): s for s in symbols}
        rows = self._query_rows(ours, query["start"], query.get("end"))
        offset = int(base64.b64decode(query["page_token"]).decode()) if query.get("page_token") else 0
        limit = min(int(query.get("limit", 1000)), self.page_size)
        page = slice(offset, offset + limit)
        out: dict[str, list[dict[str, Any]]] = {}
        columns = (rows[k][page] for k in ("symbol", "t", "o", "h", "l", "c", "v"))
        for symbol, t, o, h, low, c, v in zip(*columns, strict=True):
            out.setdefault(ours[symbol], []).append(
                {
                    "t": t,
                    "o": o,
                    "h": h,
                    "l": low,
                    "c": c,
                    "v": v if feed == "sip" else round(v * self.iex_volume_share),
                    "n": 1000,
                    "vw": round((h + low + c) / 3, 4),
                }
            )
        more = offset + limit < len(rows["t"])
        token = base64.b64encode(str(offset + limit).encode()).decode() if more else None
        return 200, {"bars": out, "next_page_token": token}


def _handler_for(fake: FakeAlpaca) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _reply(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = b"" if body is None else body.encode() if isinstance(body, str) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def _handle(self, method: str) -> None:
            parsed = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
            if method == "GET" and fake.yahoo.serves(parsed.path):  # no Alpaca keys on these
                status, answer, content_type = fake.yahoo.route(parsed.path, query, fake.bars)
                self._reply(status, answer, content_type)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            recorded = Recorded(method, parsed.path, query, dict(self.headers), body)
            fake.requests.append(recorded)
            account = fake.account_for(self.headers.get("APCA-API-KEY-ID"), self.headers.get("APCA-API-SECRET-KEY"))
            if account is not None and account is not fake:
                account.requests.append(recorded)
            fault = None
            with fake._lock:
                for f in list(fake.faults):
                    if f.matches(method, parsed.path):
                        fault = f
                        fake.faults.remove(f)
                        break
            if account is None:
                self._reply(401, {"code": 40110000, "message": "request is not authorized"})
                return
            if parsed.path.startswith(FakeAlpaca.SHARED_PATHS):
                account = fake
            if fault and fault.after_work:
                account.route(method, parsed.path, query, body)
            if fault and fault.delay:
                time.sleep(fault.delay)
            if fault and fault.status:
                self._reply(fault.status, {"code": fault.status * 100000, "message": f"injected HTTP {fault.status}"})
                return
            if fault and fault.after_work:  # delayed only: the answer is lost to the client's timeout anyway
                self._reply(200, {"code": 0, "message": "too late"})
                return
            self._reply(*account.route(method, parsed.path, query, body))

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler
