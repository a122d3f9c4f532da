"""Analyses across runs and years: Thompson et al.'s scaling fits, computational limits, hardware trends,
quantum break-even."""
