"""The commands' jobs end to end: the daily run (lock, ledger, steps, notebooks, email, submission)."""
