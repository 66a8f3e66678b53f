"""The ``algotrading`` command (DESIGN §11). Exit codes: 0 success or market closed,
1 the run failed, 2 bad configuration or usage."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import signal
import sys
from collections.abc import Sequence

from algotrading import __version__
from algotrading.config import ConfigError, load_settings
from algotrading.logs import configure_console

log = logging.getLogger("algotrading.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: use YYYY-MM-DD, e.g. 2025-12-31") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="algotrading", description="Daily after-market trading workflow for a small Alpaca account.")
    parser.add_argument("--version", action="version", version=f"algotrading {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    daily = sub.add_parser("daily", help="run the daily job for one session (what run_daily.sh calls)")
    daily.add_argument("--date", type=_date, help="session date YYYY-MM-DD (default: the latest completed session; in demo mode the last bundled one)")
    daily.set_defaults(func=cmd_daily)

    config = sub.add_parser("config", help="configuration commands")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_sub.add_parser("show", help="print the effective configuration, secrets redacted")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(func=cmd_config_show)
    return parser


def cmd_daily(args: argparse.Namespace) -> int:
    from algotrading.pipeline import RunError, run_daily
    from algotrading.session import UsageError

    settings = load_settings()
    try:
        result = run_daily(settings, args.date)
    except UsageError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    except RunError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    if result.status != "market_closed":  # that one is already in the log line
        print(result.message)
    return result.exit_code


def cmd_config_show(args: argparse.Namespace) -> int:
    settings = load_settings()
    data = settings.redacted()
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return EXIT_OK
    print(f"mode: {settings.mode.value}   (demo without Alpaca keys, paper with keys, live needs "
          "PAPER_TRADING_MODE=false + PRODUCTION_MODE=true)")
    for line in _flatten(data):
        key = line[0]
        parts = key.split(".")
        source = next((settings.sources[k] for i in range(len(parts), 1, -1) if (k := ".".join(parts[:i])) in settings.sources), "")
        print(f"  {key} = {line[1]}" + (f"   [{source}]" if source else ""))
    return EXIT_OK


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key != "groups":
            out += _flatten(value, f"{name}.")
        elif key == "groups" and isinstance(value, dict):
            out += [(f"{name}.{g}", ", ".join(symbols)) for g, symbols in value.items()]
        elif name != "mode":
            out.append((name, value))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    if hasattr(signal, "SIGPIPE"):  # `algotrading config show | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_console(args.verbose)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
