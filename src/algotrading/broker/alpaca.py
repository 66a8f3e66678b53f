"""Alpaca paper and live accounts through alpaca-py's ``TradingClient``.

Reads (account, positions, assets, orders) have explicit timeouts and are retried with
backoff. An order submission is never retried blindly: alpaca-py's own retry of 429/504
is switched off (it would re-POST), and after a timeout, a dropped connection, a 429 or a
5xx the order is looked up by its deterministic ``client_order_id``; it is sent again
only when Alpaca confirms it does not have it, and a repeated id is refused by Alpaca
itself (422), which is reported as a duplicate. Business rejections (buying power, not
tradable, wash trade) are returned as ``rejected`` so the other orders go on.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetClass, AssetStatus, OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetAssetsRequest, GetOrdersRequest, MarketOrderRequest
from tenacity import RetryError, Retrying

from algotrading.broker.base import (
    AccountInfo,
    BrokerError,
    BrokerPosition,
    BrokerSession,
    MarketClock,
    OrderRequest,
    OrderStatus,
    SubmitResult,
    mask,
)
from algotrading.config import BrokerParams
from algotrading.data.alpaca import from_alpaca_symbol, to_alpaca_symbol
from algotrading.data.http import describe_error, harden_client, read_retrying, status_of
from algotrading.portfolio import Asset

log = logging.getLogger(__name__)
#: HTTP statuses after which a submission's fate is unknown: look it up before any resend.
UNCERTAIN_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class _RetryingTradingClient(TradingClient):
    """alpaca-py's trading client whose GETs are retried; POST/DELETE go out once."""

    def __init__(self, *args: Any, retrying: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._retrying = retrying

    def get(self, path: str, data: Any = None, **kwargs: Any) -> Any:
        return self._retrying()(super().get, path, data, **kwargs)


def _num(x: Any) -> float | None:
    return None if x is None or x == "" else float(x)


def _status(order: Any) -> OrderStatus:
    return OrderStatus(
        id=str(order.id),
        client_order_id=order.client_order_id,
        symbol=from_alpaca_symbol(order.symbol or ""),
        side=str(order.side.value if order.side is not None else ""),
        status=str(order.status.value),
        notional=_num(order.notional),
        qty=_num(order.qty),
        filled_qty=_num(order.filled_qty) or 0.0,
        filled_avg_price=_num(order.filled_avg_price),
    )


def _message(exc: APIError) -> str:
    try:
        return str(exc.message)
    except Exception:  # a body that is not Alpaca's JSON error
        return str(exc)[:200]


class AlpacaBroker(BrokerSession):
    """The ``Broker`` of paper and live mode."""

    name = "alpaca"

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        paper: bool,
        params: BrokerParams,
        base_url: str | None = None,
        sleep: Any = time.sleep,
    ) -> None:
        self.paper = paper
        self.params = params
        self._sleep = sleep
        self.client = _RetryingTradingClient(
            api_key, secret_key, paper=paper, url_override=base_url, retrying=self._retrying
        )
        harden_client(self.client, params.timeout_seconds)
        self._assets: dict[str, Asset] = {}

    def clock(self) -> MarketClock:
        c = self._read("clock", self.client.get_clock)
        return MarketClock(c.timestamp, bool(c.is_open), c.next_open, c.next_close)

    def close(self) -> None:
        """Close alpaca-py's HTTP session (its pooled connections)."""
        self.client._session.close()

    def settle(self, upto: dt.date) -> list[object]:
        """Alpaca fills orders itself: nothing to do."""
        return []

    def _retrying(self) -> Retrying:
        p = self.params
        return read_retrying(p.read_retry_attempts, p.retry_wait_seconds, p.retry_max_wait_seconds, "Alpaca request")

    def _read(self, what: str, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            assert last is not None  # read_retrying retries only on exceptions: the last try raised
            raise BrokerError(
                f"Alpaca {what} failed after {self.params.read_retry_attempts} tries ({describe_error(last)}): "
                "check the connection and https://status.alpaca.markets, then run again"
            ) from last
        except APIError as exc:
            if status_of(exc) in (401, 403):
                raise BrokerError(
                    f"Alpaca refused {what} ({describe_error(exc)}): check ALPACA_API_KEY / ALPACA_SECRET_KEY and "
                    f"that they are {'paper' if self.paper else 'live'} keys"
                ) from exc
            raise BrokerError(f"Alpaca {what} failed ({describe_error(exc)})") from exc

    # -- reads ----------------------------------------------------------------------------------
    def account(self) -> AccountInfo:
        a = self._read("account", self.client.get_account)
        return AccountInfo(
            account_number=mask(a.account_number),
            status=str(a.status.value if hasattr(a.status, "value") else a.status),
            equity=float(a.equity or 0.0),
            cash=float(a.cash or 0.0),
            buying_power=float(a.buying_power or 0.0),
            paper=str(a.account_number).upper().startswith("PA"),  # Alpaca's paper account numbers start with PA
            blocked=bool(a.trading_blocked or a.account_blocked),
        )

    def positions(self) -> list[BrokerPosition]:
        rows = self._read("positions", self.client.get_all_positions)
        return [
            BrokerPosition(
                from_alpaca_symbol(p.symbol),
                float(p.qty),
                float(p.avg_entry_price),
                float(p.current_price or p.avg_entry_price),
            )
            for p in rows
        ]

    def asset(self, symbol: str) -> Asset:
        """What Alpaca says about ``symbol``: all active US equities are read with one
        ``GET /v2/assets`` the first time (not one request per symbol); a symbol Alpaca
        does not list as active is not tradable."""
        if not self._assets:
            request = GetAssetsRequest(status=AssetStatus.ACTIVE, asset_class=AssetClass.US_EQUITY)
            rows = self._read("assets", self.client.get_all_assets, request)
            for a in rows:
                name = from_alpaca_symbol(str(a.symbol))
                self._assets[name] = Asset(name, bool(a.tradable), bool(a.fractionable))
        return self._assets.get(symbol) or Asset(symbol, False, False)

    def get_order(self, client_order_id: str) -> OrderStatus | None:
        try:
            order = self.client.get_order_by_client_id(client_order_id)
        except APIError as exc:
            if status_of(exc) == 404:
                return None
            raise BrokerError(f"Alpaca order lookup failed ({describe_error(exc)})") from exc
        except RetryError as exc:
            last = exc.last_attempt.exception()
            assert last is not None  # read_retrying retries only on exceptions: the last try raised
            raise BrokerError(f"could not look up order {client_order_id} ({describe_error(last)})") from exc
        return _status(order)

    def open_orders(self) -> list[OrderStatus]:
        rows = self._read("open orders", self.client.get_orders, GetOrdersRequest(status=QueryOrderStatus.OPEN))
        return [_status(o) for o in rows]

    def cancel(self, order_id: str) -> None:
        try:
            self.client.cancel_order_by_id(order_id)
        except APIError as exc:
            raise BrokerError(f"Alpaca could not cancel order {order_id} ({describe_error(exc)})") from exc

    # -- the one write that matters ---------------------------------------------------------------
    def submit(self, order: OrderRequest) -> SubmitResult:
        request = MarketOrderRequest(
            symbol=to_alpaca_symbol(order.symbol),
            notional=round(order.notional, 2) if order.notional is not None else None,
            qty=order.qty,
            side=OrderSide.BUY if order.side == "buy" else OrderSide.SELL,
            time_in_force=TimeInForce.DAY,
            client_order_id=order.client_order_id,
        )
        attempts = self.params.submit_attempts
        last = "no attempt"
        for attempt in range(1, attempts + 1):
            try:
                sent = _status(self.client.submit_order(request))
                recovered = f"sent on try {attempt} of {attempts} (before: {last}; Alpaca confirmed it did not have it)"
                return SubmitResult("submitted", sent, recovered if attempt > 1 else None)
            except APIError as exc:
                status, text = status_of(exc), _message(exc)
                if status == 422 and "client_order_id" in text.lower():
                    existing = self.get_order(order.client_order_id)
                    return SubmitResult("duplicate", existing, text)
                if status not in UNCERTAIN_STATUS:
                    return SubmitResult("rejected", None, f"HTTP {status}: {text}")
                last = f"HTTP {status}: {text}"
            except (requests.Timeout, requests.ConnectionError) as exc:
                last = describe_error(exc)
            # the order may or may not exist: ask before doing anything else
            try:
                existing = self.get_order(order.client_order_id)
            except BrokerError as exc:
                raise BrokerError(
                    f"order {order.client_order_id} ({order.side} {order.symbol}): the submission failed ({last}) and "
                    f"its lookup failed too ({exc}); nothing was re-sent. The next run looks it up again."
                ) from exc
            if existing is not None:
                log.warning(
                    "order %s: %s, but Alpaca has it (status %s): not re-sent",
                    order.client_order_id,
                    last,
                    existing.status,
                )
                return SubmitResult("submitted", existing, f"{last}, but Alpaca has the order: not re-sent")
            if attempt < attempts:
                log.warning(
                    "order %s: %s and Alpaca confirms it does not have it: sending again (%d of %d)",
                    order.client_order_id,
                    last,
                    attempt + 1,
                    attempts,
                )
                self._sleep(
                    min(self.params.retry_wait_seconds * 2 ** (attempt - 1), self.params.retry_max_wait_seconds)
                )
        raise BrokerError(
            f"order {order.client_order_id} ({order.side} {order.symbol}) was not placed after {attempts} tries "
            f"(last: {last}); Alpaca confirms it does not exist, so nothing was sent for it. "
            "The next daily run plans again."
        )
