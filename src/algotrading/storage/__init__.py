"""Local state: the SQLite store (run ledger, equity, risk state, order intents, outbox),
the SQLite helper, atomic file writes."""
