"""Bundled hardware profiles (YAML). This file only makes the folder installable."""
