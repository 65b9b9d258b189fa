"""Stockcast: forecast daily closing prices with a stacked bidirectional RNN.

Layers, each importing only from those below: ``cli`` -> ``jobs`` (the wiring
of every command, local or on Ray) -> ``tracking`` (every MLflow call) ->
``serving`` -> ``evaluation`` -> ``core`` (splits, features, model, training)
-> ``data``; ``config`` and ``errors`` serve them all. Run ``python -m
pipeline --help``.
"""

__version__ = "0.1.0"
