"""The jobs (all, backtest, retrain, forecast, score, backfill) and the stage commands.

The wiring, written once.

A job takes a Config, one ticker's prices (values, not paths) and an MLflow
experiment id, and returns a small summary that the driver prints. Nothing in
a job reads the driver's folder or MLflow's "active experiment", so the same
function runs in-process or in a task on another machine.
"""
