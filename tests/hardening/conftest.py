"""Fixtures of the hardening suite (the harness itself is in ``harness.py``)."""

from hardening.harness import llm, pipeline  # noqa: F401
