"""Submissions: parse, validate, map tickers, clean, neutralize, meta-model and scoring."""
