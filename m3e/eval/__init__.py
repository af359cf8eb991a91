"""Evaluation: offline test sets, metrics and figures."""
