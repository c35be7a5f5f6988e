"""The contract every LLM instrumentor keeps, parametrised over the SDK cases of
``tests/hardening/harness.py`` (fixtures ``llm`` and ``pipeline`` come from there)."""

from hardening.harness import llm, pipeline  # noqa: F401
