"""Mechanics shared by every instrumentor: spans, streams, content, guards, metrics."""
