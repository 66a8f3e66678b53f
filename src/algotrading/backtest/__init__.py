"""Backtests: the vectorbt engine, the simulated strategy book, performance and momentum,
the walk-forward step of a session and the backtest command's window and data."""
