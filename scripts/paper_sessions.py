"""Ten paper sessions end to end against the tests' local Alpaca server (and its Yahoo
chart API), with the faults a real account meets, printing what the user would read.

Each evening runs the real CLI (``algotrading daily --date D --submit``, papermill and
all) with the broker's clock at 17:00 New York time; each morning the fake broker fills
the open orders at the session's open (+5 bp for buys, -5 bp for sells), except: a buy
rejected at the open (the first morning with buys from session 2), a partial fill whose
rest expires (from session 3), a 429 on the next ``POST /v2/orders`` (from session 5's
submission). The morning ``--pending`` run (09:45) sends the buys that wait for sells.
Per session it prints the run's message, the email's "Yesterday's orders" section, the
alerts raised, and at the end the installed schedule's fire times on a UTC host.

Usage (from the repository root, after ``scripts/bootstrap.sh --test``):
    .venv/bin/python scripts/paper_sessions.py [--sessions 10] [--start 2025-12-01]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from email import policy
from email.parser import BytesParser
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from algotrading import calendar as cal  # noqa: E402
from algotrading.data.bundled import BundledBarsProvider  # noqa: E402
from algotrading.ops.schedule import fire_times  # noqa: E402
from tests.alpaca_server import FakeAlpaca, Fault  # noqa: E402

NY = ZoneInfo("America/New_York")
#: From which session on each fault is injected (the first morning with buys to fill).
REJECT_FROM, PARTIAL_FROM, RATE_LIMIT_FROM = 2, 3, 5


def _section(text: str, title: str) -> str:
    """The plain-text email's section starting with ``title`` (up to the next blank line pair)."""
    start = text.find(title)
    if start < 0:
        return f"(no {title!r} section)"
    end = text.find("\n\n\n", start)
    return text[start : end if end > 0 else None].rstrip()


def _open_price(bars, symbol: str, day: dt.date) -> float:
    row = bars[(bars["symbol"] == symbol) & (bars["date"] == str(day))]
    return float(row["open"].iloc[0])


def _morning(fake: FakeAlpaca, bars, day: dt.date, faults: list[str]) -> list[str]:
    """Fill what is open at ``day``'s open; the first buy gets the first of ``faults``
    (which is then used up). Returns what happened."""
    events = []
    open_orders = [o for o in fake.orders.values() if o["status"] == "accepted"]
    buys = sorted((o for o in open_orders if o["side"] == "buy"), key=lambda o: o["symbol"])
    fault = faults.pop(0) if faults and buys else None
    for o in sorted(open_orders, key=lambda o: (o["side"] != "sell", o["symbol"])):
        slip = 1.0005 if o["side"] == "buy" else 0.9995
        price = round(_open_price(bars, o["symbol"].replace(".", "-"), day) * slip, 2)
        if fault == "reject" and o is buys[0]:
            o["status"] = "rejected"
            events.append(f"rejected {o['side']} {o['symbol']} at the open")
            continue
        if fault == "partial" and o is buys[0]:
            total = float(o["qty"]) if o["qty"] is not None else float(o["notional"]) / price
            part = round(total / 2, 6) if o["qty"] is None else max(1.0, float(int(total // 2)))
            fake.fill(o["client_order_id"], price, qty=part)
            o["status"] = "expired"
            events.append(f"partly filled {o['side']} {o['symbol']}: {part:g} of {total:g}, the rest expired")
            continue
        fake.fill(o["client_order_id"], price)
        events.append(f"filled {o['side']} {o['symbol']} at {price:.2f}")
    return events


def _mark(fake: FakeAlpaca, bars, day: dt.date) -> None:
    """Positions valued at ``day``'s close, as the broker reports them after the close."""
    for symbol, pos in fake.positions.items():
        row = bars[(bars["symbol"] == symbol.replace(".", "-")) & (bars["date"] == str(day))]
        if len(row):
            pos["price"] = float(row["close"].iloc[0])


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "algotrading"), *args], env=env, capture_output=True, text=True, check=False
    )
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    return done.returncode, "\n".join(lines[-3:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2023, 3, 6))
    parser.add_argument("--keep", type=Path, help="copy the reports folder here at the end")
    args = parser.parse_args()

    days = cal.sessions_between(args.start, cal.next_session(args.start) + dt.timedelta(days=40))[: args.sessions]
    work = Path(tempfile.mkdtemp(prefix="paper-sessions-"))
    shutil.copytree(ROOT / "params", work / "params")
    provider = BundledBarsProvider()
    bars = provider.get_bars(provider.symbols(), cal.window_start(days[0], 800), days[-1] + dt.timedelta(days=7))
    fake = FakeAlpaca(bars=bars).start()
    fake.assets = {s.replace("-", "."): {"tradable": True, "fractionable": s != "HON"} for s in provider.symbols()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "EMAIL_", "ALGOTRADING_"))}
    env |= fake.environment() | {
        "ALGOTRADING_PARAMS_DIR": str(work / "params"),
        "ALGOTRADING_REPORTS_DIR": str(work / "reports"),
        "ALGOTRADING_STATE_DIR": str(work / "state"),
        "ALGOTRADING_ENV_FILE": "",
        "NUMBA_CACHE_DIR": str(ROOT / "state" / "numba-cache"),
        "TZ": "UTC",
    }
    faults: list[str] = []
    try:
        for number, day in enumerate(days, start=1):
            if number == REJECT_FROM:
                faults.append("reject")
            if number == PARTIAL_FROM:
                faults.append("partial")
            print(f"\n=== session {number}: {day} ===")
            if number > 1:
                fake.clock_at = cal.session_open(day) + dt.timedelta(minutes=1)
                for event in _morning(fake, bars, day, faults):
                    print(f"  broker at the open: {event}")
                fake.clock_at = cal.session_open(day) + dt.timedelta(minutes=15)
                code, said = _run(env, "daily", "--submit", "--pending", "--date", str(days[number - 2]))
                print(f"  09:45 --pending: exit {code}: {said.splitlines()[-1] if said else ''}")
                for event in _morning(fake, bars, day, []):  # what --pending sent fills during the day
                    print(f"  broker during the day: {event}")
            _mark(fake, bars, day)
            fake.clock_at = dt.datetime.combine(day, dt.time(17, 0), tzinfo=NY)
            if number == RATE_LIMIT_FROM:
                fake.faults.append(Fault(status=429, method="POST", path="/v2/orders"))
                print("  injected: HTTP 429 on the next POST /v2/orders")
            code, said = _run(env, "daily", "--date", str(day), "--submit")
            print(f"  17:00 daily --submit: exit {code}: {said.splitlines()[-1] if said else ''}")
            out = work / "reports" / day.isoformat()
            sub_file = out / "submission.json"
            if sub_file.is_file():
                for o in json.loads(sub_file.read_text())["outcomes"]:
                    extra = f" ({o['detail']})" if o["detail"] else ""
                    print(f"  sent: {o['side']} {o['symbol']}: {o['result']}{extra}")
            eml = work / "reports" / "outbox" / f"daily-{day}.eml"
            if eml.is_file():
                msg = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
                print(f"  email subject: {msg['Subject']}")
                body = msg.get_body(("plain",))
                text = body.get_content() if body is not None else ""
                print("  " + _section(text, "YESTERDAY'S ORDERS").replace("\n", "\n  "))
            alerts_file = out / "alerts.json"
            if alerts_file.is_file():
                for alert in json.loads(alerts_file.read_text()).get("new", []):
                    print(f"  alert [{alert['severity']}] {alert['kind']}: {alert['message']}")
            run = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
            sources = run.get("data", {}).get("sources", {})
            if sources:
                counts: dict[str, int] = {}
                for s in sources.values():
                    counts[s] = counts.get(s, 0) + 1
                print(f"  data sources: {counts}")
        print("\n=== schedule (cron block of `schedule install --submit`) on a UTC host ===")
        printed = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "algotrading"), "schedule", "print", "--submit"],
            env=env | {"ALGOTRADING_HOST_TZ": "UTC"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        block = printed[printed.index("# >>> ") :] if "# >>> " in printed else printed
        for day in (dt.date(2026, 1, 14), dt.date(2026, 7, 15)):
            for firing in fire_times(block, ZoneInfo("UTC"), day):
                utc = firing.at.astimezone(dt.UTC)
                what = "--pending" if firing.pending else "daily"
                runs = "runs" if firing.works else "does nothing (--at not due)"
                print(f"  {day}: {utc:%H:%M} UTC = {firing.at:%H:%M} New York: {what} {runs}")
    finally:
        fake.stop()
        if args.keep:
            shutil.copytree(work / "reports", args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
