"""Inputs as frozen, strict pydantic models with SI units in their field names: hardware profiles, workloads,
parallel plans, run options, grid regions. Imports nothing of the project but ``errors`` and ``units``."""
