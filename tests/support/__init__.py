"""Helpers for tests: independent token minting and a harness around the real app."""
