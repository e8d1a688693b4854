"""Backtesting a definition: replay history through the worker's own domain code."""
