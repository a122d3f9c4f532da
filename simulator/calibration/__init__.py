"""From measurements to profiles: fitting curves, measuring this machine, validating against measured runs."""
