"""What must hold before real money is traded (DESIGN §1): checked again right before a
live submission, whatever ``algotrading validate`` said earlier."""

from __future__ import annotations

from algotrading.broker.base import AccountInfo
from algotrading.config import Mode, Settings


def live_blockers(settings: Settings, account: AccountInfo) -> list[str]:
    """Reasons not to send live orders now (empty: go)."""
    problems = []
    if settings.mode is not Mode.LIVE:
        problems.append(f"the configured mode is {settings.mode.value}, not live")
    if account.paper:
        problems.append("the broker account is a paper account, but live trading is configured")
    if account.status != "ACTIVE" or account.blocked:
        problems.append(f"the Alpaca account is {account.status}{' and blocked' if account.blocked else ''}: trading is not possible")
    if not (settings.email.smtp_server and settings.email.to):
        problems.append("no email delivery configured (EMAIL_SMTP_SERVER, EMAIL_TO): live trading must report every run")
    return problems
