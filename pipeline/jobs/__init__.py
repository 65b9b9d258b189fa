"""The jobs, one file each (fetch, features, train, evaluate, predict, all, backtest,
retrain, forecast, score, backfill, sweep), and ``commands.py``: what each CLI command runs.

A job takes a Config, one group of tickers (their prices as values, not paths)
and an MLflow experiment id, and returns a summary per ticker that the driver
(``pipeline/runtime/``) prints. Nothing in a job reads the driver's folder or
MLflow's "active experiment", so the same function runs in-process or in a
task on another machine, for a ticker's own group or for the universe.
"""
