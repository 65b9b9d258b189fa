"""Scores on arrays: point errors, interval scores, Diebold–Mariano tests."""
