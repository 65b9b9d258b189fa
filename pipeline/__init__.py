"""Stockcast: forecast daily closing prices with a stacked bidirectional RNN.

Stages, each a module of pure functions: ``fetch`` -> ``features`` -> ``train``
-> ``evaluate``; ``tracking`` holds every MLflow call and ``stages`` the thin
wiring between them. Run ``python -m pipeline --help``.
"""

__version__ = "0.1.0"
