"""The fallback notification: one JSON POST to ``ALERT_WEBHOOK_URL`` when email fails and
for every failed run. The body carries ``text`` (Slack), ``content`` (Discord) and
``title``/``message`` (ntfy's JSON publishing), so any of them accepts it."""

from __future__ import annotations

import logging

import requests

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10
LIMIT = 1900  # Discord's content limit is 2000 characters


def notify(url: str, title: str, message: str) -> bool:
    """POST the alert; never raises (a notification must not break the run). Returns success."""
    text = f"{title}\n{message}"[:LIMIT]
    try:
        response = requests.post(
            url,
            json={"text": text, "content": text, "title": title, "message": message[:LIMIT]},
            timeout=TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        return True
    except requests.RequestException as exc:
        log.warning("the alert webhook failed too (%s)", type(exc).__name__)
        return False
