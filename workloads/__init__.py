"""Bundled workloads (YAML). This file only makes the folder installable."""
