"""Runnable stream applications: ``python -m labkit.streams.examples.<name> --help``."""
