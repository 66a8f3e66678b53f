"""The plan email over real SMTP (aiosmtpd with STARTTLS or TLS, AUTH, a self-signed
certificate), the outbox that keeps undelivered messages, the webhook fallback, and
failure alerts."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
import yaml

from algotrading.calendar import NY
from algotrading.config import load_settings
from algotrading.decisions.plan import make_plan
from algotrading.jobs.control import run_lock
from algotrading.jobs.daily import run_daily
from algotrading.notify.compose import daily_email
from algotrading.notify.daily import source_notes
from algotrading.notify.smtp import EmailError, send

from .conftest import ROOT
from .helpers import CHROMIUM_OFFLINE, email_body, phone_width
from .planning import buy, inputs, position, sell
from .smtp_server import PASSWORD, USER, SmtpServer, free_port

#: The email leads with the decision (DESIGN §6).
SECTIONS = [
    "Next Day Trading Plan",
    "Portfolio Summary",
    "Top 4 Highest Conviction Signals",
    "Cash Depletion Analysis",
    "Position Consolidation Recommendations",
]
RECIPIENTS = ["trader@example.com", "partner@example.com"]


class Webhook:
    """A local endpoint recording the JSON it receives."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # noqa: ANN002
                pass

            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/distinctive-webhook-token-9182"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def configure(
    workdirs,
    monkeypatch,
    server: SmtpServer | None,
    port: int | None = None,
    password: str = PASSWORD,
    tls_mode: str = "auto",
    webhook: Webhook | None = None,
) -> None:
    path = workdirs["params"] / "email.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.update(
        retry_wait_seconds=0.2,
        retry_max_wait_seconds=0.5,
        retry_attempts=4,
        timeout_seconds=5,
        tls_mode=tls_mode,
        tls_ca_file=str(server.cert) if server else None,
    )
    path.write_text(yaml.safe_dump(doc))
    for key, value in {
        "EMAIL_SMTP_SERVER": "127.0.0.1",
        "EMAIL_SMTP_PORT": str(port or server.port),
        "EMAIL_USERNAME": USER,
        "EMAIL_PASSWORD": password,
        "EMAIL_FROM": USER,
        "EMAIL_TO": ", ".join(RECIPIENTS),
    }.items():
        monkeypatch.setenv(key, value)
    if webhook:
        monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook.url)


def sample_plan():
    held = [position("OLD", value=300.0, price=50.0, entry=55.0, stop=52.0, strategy="golden_cross")]
    data = inputs(
        [
            buy("AAA", confidence=0.9, price=20.0, stop=18.5, target=23.0),
            buy("BBB", confidence=0.8, price=40.0),
            sell("OLD", "golden_cross", 50.0),
        ],
        positions=held,
        cash=700.0,
        previous=1010.0,
        peak=1050.0,
    )
    return make_plan(data, "2026-01-01T00:00:00+00:00")


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


@pytest.mark.parametrize("tls_mode", ["starttls", "ssl"])
def test_a_delivered_plan_email_has_every_part(workdirs, monkeypatch, tmp_path, tls_mode):
    server = SmtpServer(tmp_path, implicit=tls_mode == "ssl").start()
    try:
        configure(workdirs, monkeypatch, server, tls_mode=tls_mode)
        settings = load_settings()
        plan = sample_plan()
        report = tmp_path / "report.html"
        report.write_text("<html><body>the full report</body></html>")
        body = email_body(plan, tmp_path, "2 submitted")
        msg = daily_email(plan, settings, report, {"XYZ": "stale: last bar 2025-12-29"}, "2 submitted", body=body)
        assert send(msg, settings.email, PASSWORD) == 1
    finally:
        server.stop()
    (got,) = server.messages
    m = got.message
    assert m["Subject"] == "AlgoTrading Daily Signals - 2025-12-31"
    assert sorted(got.rcpt_tos) == sorted(RECIPIENTS) and server.recorder.logins == [(USER, True)]
    html = html_of(m)
    positions = [html.index(s) for s in SECTIONS]
    assert positions == sorted(positions), "sections out of the seed's order"
    assert "<script" not in html.lower() and "http://" not in html and "https://" not in html
    # the plan's numbers: the stop-loss sale of OLD and the buys
    for order in plan.orders:
        assert order.symbol in html and f"${order.est_value:,.2f}" in html
    assert "$1,000.00" in html and "-0.99%" in html  # equity and the day's change vs $1,010
    # each order says why, with its numbers: the price assumed, the shares, stop and target, the sizing
    assert "<b>Why:</b> stop loss: the close $50.00 is at or below the stop $52.00" in html
    assert "6 shares at $50.00 (the close of 2025-12-31)" in html
    assert "about 15 shares at $20.00 (the close of 2025-12-31)" in html and "Stop $18.50 · target $23.00" in html
    assert "<b>Why:</b> mean_reversion: mean_reversion says buy" in html
    assert "Sizing: buy $300.00: the cap $300.00 (MAX_POSITION_SIZE $300.00, 30% of equity $1,000.00;" in html
    text = m.get_body(preferencelist=("plain",)).get_content()
    for section in SECTIONS:
        assert section.upper() in text
    assert "XYZ (stale: last bar 2025-12-29)" in text and "Submission: 2 submitted." in text
    assert (
        "  BUY AAA $300.00\n    about 15 shares at $20.00 (the close of 2025-12-31)\n"
        "    Why: mean_reversion: mean_reversion says buy\n    Stop $18.50, target $23.00\n    Sizing: buy $300.00: "
    ) in text.replace("\r\n", "\n")
    attachments = {p.get_filename(): p.get_content() for p in m.iter_attachments()}
    assert attachments["report-2025-12-31.html"] == "<html><body>the full report</body></html>"
    images = [p for p in m.walk() if p.get_content_type() == "image/png"]
    (cid,) = body.images  # the notebook's PNG output, now an inline part the HTML points at
    assert [p["Content-ID"] for p in images] == [f"<{cid}>"] and f'src="cid:{cid}"' in html
    assert images[0].get_content()[:8] == b"\x89PNG\r\n\x1a\n" and images[0]["Content-Disposition"].startswith("inline")
    assert "not in the email" not in html and "<style" not in html  # untagged cells out; CSS inlined
    assert "<b>Submission:</b> 2 submitted." in html


def test_a_refused_login_is_not_retried(workdirs, monkeypatch, smtp):
    configure(workdirs, monkeypatch, smtp, password="wrong-password")
    settings = load_settings()
    with pytest.raises(EmailError, match="refused the login .* Not retried") as info:
        send(daily_email(sample_plan(), settings, None, {}), settings.email, "wrong-password")
    assert not info.value.retryable
    # one connection (smtplib tries each offered mechanism, PLAIN then LOGIN, on it), never a second
    assert len(smtp.recorder.sessions) == 1 and not any(ok for _, ok in smtp.recorder.logins)
    assert smtp.messages == []


def test_a_server_that_comes_up_later_gets_the_message_once(workdirs, monkeypatch, tmp_path):
    port = free_port()
    server = SmtpServer(tmp_path, port=port)
    configure(workdirs, monkeypatch, server, port=port)
    settings = load_settings()
    waits: list[float] = []

    def between_tries(seconds: float) -> None:
        """The retry's wait: the first failed try is the event that brings the server up."""
        waits.append(seconds)
        if len(waits) == 1:
            server.start()

    try:
        tries = send(daily_email(sample_plan(), settings, None, {}), settings.email, PASSWORD, sleep=between_tries)
    finally:
        server.stop()
    assert (tries, len(waits), len(server.messages)) == (2, 1, 1)  # down for the first try, up for the second


@pytest.mark.slow
def test_wrong_password_keeps_the_email_alerts_the_webhook_and_the_next_run_sends_it_first(workdirs, monkeypatch, smtp):
    hook = Webhook()
    try:
        configure(workdirs, monkeypatch, smtp, password="wrong-password", webhook=hook)
        result = run_daily(load_settings(), dt.date(2025, 12, 31))
        assert (result.exit_code, result.status) == (1, "unsent")
        assert "email NOT delivered" in result.message and "Not retried" in result.message
        outbox = workdirs["reports"] / "outbox" / "daily-2025-12-31.eml"
        assert outbox.is_file() and len(smtp.recorder.sessions) == 1
        assert len(hook.received) == 1 and "email not delivered" in hook.received[0]["text"]
        assert (workdirs["reports"] / "2025-12-31" / "email.eml").read_bytes()  # written before sending
        run = json.loads((workdirs["reports"] / "2025-12-31" / "run.json").read_text())
        assert run["email"]["status"] == "pending"

        still = run_daily(load_settings(), dt.date(2025, 12, 31))  # nothing to re-run, the re-send fails again
        assert (still.exit_code, still.status) == (
            1,
            "unsent",
        ) and "email NOT delivered: daily-2025-12-31" in still.message
        configure(workdirs, monkeypatch, smtp, webhook=hook)  # the right password
        again = run_daily(load_settings(), dt.date(2025, 12, 31))
        assert again.status == "already_done"  # nothing re-run, but the unsent email went out first
        assert (
            len(smtp.messages) == 1 and smtp.messages[0].message["Subject"] == "AlgoTrading Daily Signals - 2025-12-31"
        )
        assert not outbox.exists()
        assert run_daily(load_settings(), dt.date(2025, 12, 31), force=True).exit_code == 0
        assert len(smtp.messages) == 1  # a delivered email is never sent again
    finally:
        hook.stop()


@pytest.mark.slow
def test_without_smtp_the_email_lands_in_the_outbox(workdirs):
    result = run_daily(load_settings(), dt.date(2025, 12, 31))
    assert result.exit_code == 0 and "written to" in result.message
    eml = (workdirs["reports"] / "outbox" / "daily-2025-12-31.eml").read_bytes()
    assert b"Subject: AlgoTrading Daily Signals - 2025-12-31" in eml
    assert b'filename="report-2025-12-31.html"' in eml
    if shutil.which("chromium"):
        page = workdirs["reports"] / "2025-12-31" / "email.html"
        shot = workdirs["reports"] / "email.png"
        common = [
            *CHROMIUM_OFFLINE,
            f"--user-data-dir={workdirs['state'] / 'chrome'}",
        ]
        dom = subprocess.run(common + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
        assert "Next Day Trading Plan" in dom and "<b>No trades tomorrow:</b>" in dom
        positions = [dom.index(f">{s}</h2>") for s in SECTIONS]  # the decision first
        assert positions == sorted(positions), "sections out of order"
        assert phone_width(page, workdirs["state"]) <= 390  # nothing cut off or scrolling sideways on a phone
        subprocess.run(
            common + ["--window-size=700,1800", f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120
        )
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    # a report notebook nbconvert cannot read: the email still goes out, in plain text, and says why
    from algotrading.notify.daily import compose_daily
    from algotrading.storage.store import open_store

    folder = workdirs["reports"] / "2025-12-31"
    (folder / "90_daily_report.ipynb").write_text("{not json")
    with open_store(workdirs["state"]) as store:
        msg = compose_daily(load_settings(), store, folder, None)
    assert msg.get_body(preferencelist=("html",)) is None
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert (
        "The HTML version of this email could not be rendered: NotJSONError" in text and "NEXT DAY TRADING PLAN" in text
    )
    assert [p.get_filename() for p in msg.iter_attachments()] == ["report-2025-12-31.html"]


@pytest.mark.slow
def test_a_failing_notebook_sends_an_alert_with_the_partial_notebook(workdirs, monkeypatch, tmp_path):
    hook = Webhook()
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    nb = nbformat.read(folder / "20_ranking.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell('raise RuntimeError("ranking blew up")'))
    nbformat.write(nb, folder / "20_ranking.ipynb")
    monkeypatch.setenv("ALGOTRADING_NOTEBOOKS_DIR", str(folder))
    monkeypatch.setenv("ALERT_WEBHOOK_URL", hook.url)
    try:
        result = run_daily(load_settings(), dt.date(2025, 12, 31))
    finally:
        hook.stop()
    assert result.exit_code == 1 and "alert: no SMTP configured: written to" in result.message
    (eml,) = (workdirs["reports"] / "outbox").glob("failure-2025-12-31-*.eml")
    from email import policy
    from email.parser import BytesParser

    m = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert m["Subject"] == "AlgoTrading run FAILED - 2025-12-31 (step notebook:20_ranking)"
    body = m.get_body(preferencelist=("plain",)).get_content()
    assert "RuntimeError: ranking blew up" in body and "Last lines of the run log" in body
    (attachment,) = list(m.iter_attachments())
    assert attachment.get_filename() == "20_ranking.html" and "ranking blew up" in attachment.get_content()
    assert len(hook.received) == 1 and "FAILED" in hook.received[0]["title"]
    assert not (workdirs["reports"] / "2025-12-31").exists()  # nothing half-done where the report goes


def test_a_second_concurrent_run_in_another_process_is_refused(workdirs):
    settings = load_settings()
    with run_lock(settings.paths.state_dir):
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "algotrading"), "daily", "--date", "2025-12-31"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert re.search(r"another daily run holds .*daily\.lock \(pid \d+ since", done.stderr)


@pytest.mark.slow
def test_no_secret_reaches_reports_state_or_logs(workdirs, monkeypatch, smtp):
    """Paper mode against local Alpaca and SMTP servers, every secret set to a distinctive value."""
    from algotrading.data.bundled import BundledBarsProvider

    from .alpaca_server import KEY, SECRET, FakeAlpaca

    hook = Webhook()
    symbols = load_settings().universe.all_symbols
    fake = FakeAlpaca(bars=BundledBarsProvider().get_bars(symbols, dt.date(2021, 6, 1), dt.date(2022, 12, 30))).start()
    fake.assets = {s.replace("-", "."): {"tradable": True, "fractionable": True} for s in symbols}
    fake.clock_at = dt.datetime(2022, 6, 13, 17, 0, tzinfo=NY)  # after that close
    try:
        configure(workdirs, monkeypatch, smtp, webhook=hook)
        for key, value in fake.environment().items():
            monkeypatch.setenv(key, value)
        result = run_daily(load_settings(), dt.date(2022, 6, 13), submit=True)
        assert result.exit_code == 0, result.message
        assert len(smtp.messages) == 1
    finally:
        fake.stop()
        hook.stop()
    secrets = [KEY, SECRET, PASSWORD, "distinctive-webhook-token-9182"]
    checked = 0
    for root in (workdirs["reports"], workdirs["state"]):
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                checked += 1
                for secret in secrets:
                    assert secret.encode() not in data, f"{secret[:6]}... found in {path}"
    assert checked > 30
    raw = smtp.messages[0].message.as_bytes()
    assert not any(s.encode() in raw for s in secrets)
    _ = Path, time


@pytest.mark.parametrize(
    ("risk", "spy_move", "title"),
    [
        ("HALTED", 0.002, "HALTED: no new buys"),
        ("EMERGENCY_STOP", 0.002, "EMERGENCY STOP: only stop-loss sells"),
        ("ACTIVE", -0.06, "CIRCUIT BREAKER: new buys paused today"),
        ("HALTED", -0.06, "HALTED: no new buys until `algotrading risk resume` (and the circuit breaker is tripped)"),
    ],
)
def test_a_restricted_plan_email_leads_with_the_risk_banner(workdirs, tmp_path, risk, spy_move, title):
    from algotrading.decisions.risk import RiskState

    data = inputs([buy("AAA", confidence=0.9, price=20.0)], cash=1000.0, risk=RiskState[risk], spy_move=spy_move)
    plan = make_plan(data, "2026-01-01T00:00:00+00:00")
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    msg = daily_email(plan, load_settings(), report, {}, body=email_body(plan, tmp_path))
    html, text = html_of(msg), msg.get_body(preferencelist=("plain",)).get_content()
    restrictions = plan.to_json()["risk"]["restrictions"]
    assert restrictions, "a restricted plan names its restrictions"
    assert html.index(title.replace("`", "")[:5]) < html.index("Next Day Trading Plan")
    assert title in text and text.index(title) < text.index("NEXT DAY TRADING PLAN")
    for line in restrictions:
        assert f"- {line}" in text
    assert not [o for o in plan.orders if o.side == "buy"], "no buy goes out under a restriction"


def test_symbols_from_a_fallback_source_are_named_in_the_email_but_vix_is_not(workdirs):
    outage = "alpaca-sip failed: Alpaca market data failed after 4 tries (last error: HTTP 503)"
    data = {
        "sources": {"AAPL": "yahoo", "XOM": "yahoo", "SPY": "alpaca-sip", "^VIX": "yahoo", "DUK": "alpaca-iex"},
        "source_notes": {
            "AAPL": outage,
            "XOM": outage,
            "^VIX": "alpaca-sip: an index: Alpaca's stock data does not offer it",
            "DUK": "alpaca-sip: no bar for 2025-12-31 (last 2025-12-30)",
            "ZZZ": "yahoo failed: no data",  # served by no source: the exclusion line names it
        },
    }
    notes = source_notes(data, "^VIX")
    assert notes == [
        f"2 symbol(s) from yahoo (AAPL, XOM): {outage}",
        "1 symbol(s) from alpaca-iex (DUK): alpaca-sip: no bar for 2025-12-31 (last 2025-12-30)",
    ]
    msg = daily_email(sample_plan(), load_settings(), None, {}, source_notes=notes)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert f"Data source: 2 symbol(s) from yahoo (AAPL, XOM): {outage}\n" in text
    assert "Data source" not in daily_email(sample_plan(), load_settings(), None, {}).get_body(("plain",)).get_content()


class HangingServer:
    """Accepts TCP connections and never says a word (an SMTP server that hangs)."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[object] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted.append(conn)

    def stop(self) -> None:
        self.done.set()
        self.thread.join()
        for conn in self.accepted:
            conn.close()  # type: ignore[attr-defined]
        self.sock.close()


def test_resends_before_a_run_stop_at_their_budget_when_the_server_hangs(workdirs, monkeypatch):
    """Two emails wait in the outbox; the server accepts and hangs. With a 30 s socket
    timeout and 4 tries that used to cost minutes before the run could start; now the
    re-sends stop at resend_budget_seconds (1 s here) and the second is not tried."""
    from algotrading.notify.delivery import outbox_dir, resend_pending
    from algotrading.storage.store import open_store

    hang = HangingServer()
    try:
        configure(workdirs, monkeypatch, None, port=hang.port)
        path = workdirs["params"] / "email.yaml"
        doc = yaml.safe_load(path.read_text()) | {"timeout_seconds": 30, "resend_budget_seconds": 1.0}
        path.write_text(yaml.safe_dump(doc))
        settings = load_settings()
        outbox = outbox_dir(settings)
        outbox.mkdir(parents=True)
        with open_store(settings.paths.state_dir) as store:
            for day in ("2025-12-30", "2025-12-31"):
                eml = outbox / f"daily-{day}.eml"
                eml.write_bytes(b"Subject: AlgoTrading Daily Signals - " + day.encode() + b"\r\n\r\nplan\r\n")
                store.save_email(f"daily-{day}", dt.date.fromisoformat(day), "daily", "s", str(eml), "pending")
            started = time.monotonic()
            out = resend_pending(settings, store)
            spent = time.monotonic() - started
            assert [d.status for d in out] == ["pending", "pending"]
            assert "the time for re-sends was spent" in out[0].detail or "timed out" in out[0].detail, out[0].detail
            assert out[1].detail == "not tried: an earlier re-send failed; the next run tries it"
            assert [r["status"] for r in store.emails()] == ["pending", "pending"]
        assert len(hang.accepted) >= 1 and all(
            (outbox / f"daily-{d}.eml").is_file() for d in ("2025-12-30", "2025-12-31")
        )
        assert spent < 15  # about 1 s; a budget that did not hold would take 4 x 30 s
    finally:
        hang.stop()


def test_a_held_email_is_sent_by_outbox_send_and_only_then(workdirs, monkeypatch, smtp, capsys):
    """What a run killed mid-send leaves: the message marked "sending since". The next run
    holds it (it may have arrived); `algotrading outbox send ID` sends it when the user says."""
    from algotrading.cli import main
    from algotrading.notify.delivery import SENDING, outbox_dir, resend_pending
    from algotrading.storage.store import open_store

    configure(workdirs, monkeypatch, smtp)
    settings = load_settings()
    eml = outbox_dir(settings) / "daily-2025-12-31.eml"
    eml.parent.mkdir(parents=True)
    eml.write_bytes(b"Subject: AlgoTrading Daily Signals - 2025-12-31\r\n\r\nplan\r\n")
    with open_store(settings.paths.state_dir) as store:
        store.save_email("daily-2025-12-31", dt.date(2025, 12, 31), "daily", "s", str(eml), "pending")
        store.note_email("daily-2025-12-31", SENDING + "2025-12-31T21:31:00+00:00")
        (first,) = resend_pending(settings, store)
        (again,) = resend_pending(settings, store)
    assert first.status == again.status == "pending" and first.detail.startswith("held: a run was killed while sending")
    assert again.detail == first.detail and smtp.messages == []  # held, not sent, and said once
    assert main(["outbox"]) == 0 and "daily-2025-12-31" in capsys.readouterr().out
    assert main(["outbox", "send"]) == 2
    assert main(["outbox", "send", "daily-2025-12-30"]) == 2
    assert main(["outbox", "send", "daily-2025-12-31"]) == 0
    assert len(smtp.messages) == 1 and not eml.exists()
    assert main(["outbox", "send", "daily-2025-12-31"]) == 0 and len(smtp.messages) == 1  # delivered: never again


def test_the_email_charts_have_a_session_axis_without_hour_ticks():
    """Two sessions on a date axis got 06:00 / 12:00 / 18:00 ticks (and a run of the same
    session twice, matplotlib's AutoDateLocator warning): one step per session instead."""
    import warnings

    import matplotlib.pyplot as plt
    import pandas as pd

    from algotrading.report import email_charts

    def labels(sessions: list[str]) -> list[str]:
        fig, ax = plt.subplots()
        ax.plot(range(len(sessions)), range(len(sessions)))
        email_charts._session_axis(ax, sessions)
        fig.canvas.draw()
        shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        plt.close(fig)
        return shown

    assert labels(["2022-03-01", "2022-03-02"]) == ["Mar 01", "Mar 02"]
    year = [d.date().isoformat() for d in pd.bdate_range("2021-01-04", "2021-12-31")]
    assert set(labels(year)) <= {f"{m} 2021" for m in ("Jan", "Mar", "May", "Jun", "Aug", "Sep", "Oct", "Dec")}
    twice = pd.DataFrame({"session_date": ["2022-03-01", "2022-03-01"], "equity": [1000.0, 1001.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = email_charts.equity_png(twice.assign(peak_equity=[1000.0, 1001.0]))
    assert png is not None and png.startswith(b"\x89PNG")
