"""Evaluation of forecasts: scores, intervals and their calibration."""
