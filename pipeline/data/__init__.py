"""Prices in: sources (sample, csv, yfinance), validation and the yfinance cache."""
