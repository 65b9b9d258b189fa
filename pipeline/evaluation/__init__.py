"""Scoring on held-out days: metrics, baselines, evaluation, walk-forward backtest, DM tests."""
