"""Notifications: the daily plan email, failure alerts, SMTP delivery with an outbox that
never loses a message, and a webhook fallback."""
