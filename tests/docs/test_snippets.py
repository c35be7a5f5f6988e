"""Every ```python block in README.md and docs/*.md runs as pasted.

Each block runs in its own Python process (so one snippet's global providers, instrumentors
and settings never reach another) with an environment that stands in for the real services,
offline:

- ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` / ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` point
  at ``tripwire.testing`` fake servers, with dummy keys and credentials;
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` points at a local sink that accepts OTLP/HTTP;
- no ``OTEL_*`` or ``TRIPWIRE_*`` variable of the test run leaks in.

A block that defines pytest tests (``def test_…``) is run with pytest and the opt-in plugin
(``-p tripwire.testing.pytest_plugin``), as docs/testing.md tells users to enable it; a block
that only defines fixtures is used as the ``conftest.py`` of a trivial test.

Markers, an HTML comment on the line before the block (blank lines allowed in between):

- ``<!-- snippet: continues -->`` — the block continues the previous block of the same
  page: they run together, in order, as one script (a page that builds a set-up step by step);
- ``<!-- snippet: skip <reason> -->`` — not run; only for what cannot run offline, and the
  reason is required.
"""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!--\s*snippet:\s*(?P<kind>\S+)\s*(?P<reason>.*?)\s*-->\s*$")
TIMEOUT = 120


@dataclass
class Snippet:
    page: Path
    line: int  # of the opening fence, 1-based
    code: str
    marker: str | None = None
    reason: str = ""
    prelude: str = ""  # earlier blocks this one continues

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def extract(page: Path) -> list[Snippet]:
    """The ```python blocks of ``page`` with their markers (``continues`` resolved)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    snippets: list[Snippet] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```python":
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        # A block inside a list item is indented like its fence: the code starts at that column.
        indent = len(lines[start]) - len(lines[start].lstrip())
        code = "\n".join(line[indent:] for line in lines[start + 1:j])
        snippet = Snippet(page, start + 1, code + "\n")
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        match = MARKER.match(lines[k].strip()) if k >= 0 else None
        if match:
            snippet.marker, snippet.reason = match["kind"], match["reason"]
        if snippet.marker == "continues" and snippets:
            previous = snippets[-1]
            snippet.prelude = previous.prelude + previous.code
        snippets.append(snippet)
        i = j + 1
    return snippets


ALL = [s for page in PAGES for s in extract(page)]


def test_snippets_are_found() -> None:
    # A regression in extraction must not pass silently as "nothing to run".
    assert len(ALL) >= 15
    assert any(s.page.name == "README.md" for s in ALL)


@pytest.mark.parametrize("snippet", ALL, ids=[s.id for s in ALL])
def test_markers_are_known_and_skips_say_why(snippet: Snippet) -> None:
    assert snippet.marker in (None, "skip", "continues"), f"{snippet.id}: unknown marker"
    if snippet.marker == "skip":
        assert snippet.reason, f"{snippet.id}: a skipped snippet must say why"
    if snippet.marker == "continues":
        assert snippet.prelude, f"{snippet.id}: 'continues' on the first block of the page"


class _Sink(http.server.BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports (any POST) with 200 and an empty body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, str]]:
    from tripwire.testing import FakeAnthropicServer, FakeBedrockServer, FakeOpenAIServer

    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    with FakeOpenAIServer() as openai_server, FakeAnthropicServer() as anthropic_server, \
            FakeBedrockServer() as bedrock_server:
        yield {
            "OPENAI_BASE_URL": openai_server.base_url,
            "OPENAI_API_KEY": "sk-test-not-a-key",
            "ANTHROPIC_BASE_URL": anthropic_server.url,
            "ANTHROPIC_API_KEY": "test-key",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock_server.url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_address[1]}",
            "OTEL_SERVICE_NAME": "docs-snippet",
        }
    sink.shutdown()
    sink.server_close()


def _environment(services: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "TRIPWIRE_", "PYTEST_", "OPENAI_", "ANTHROPIC_",
                                "AWS_", "GOOGLE_", "GEMINI_"))}
    env.update(services)
    return env


def _is_pytest_file(code: str) -> bool:
    return bool(re.search(r"^(async )?def test_|^@pytest\.fixture", code, re.M))


@pytest.mark.parametrize("snippet", ALL, ids=[s.id for s in ALL])
def test_snippet_runs(snippet: Snippet, services: dict[str, str], tmp_path: Path) -> None:
    if snippet.marker == "skip":
        pytest.skip(f"{snippet.id}: {snippet.reason}")
    code = snippet.prelude + snippet.code
    env = _environment(services)
    if _is_pytest_file(code):
        (tmp_path / "pytest.ini").write_text(
            "[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        if re.search(r"^(async )?def test_", code, re.M):
            (tmp_path / "test_snippet.py").write_text(code)
        else:  # fixtures only: a conftest.py, exercised by a trivial test
            (tmp_path / "conftest.py").write_text(code)
            (tmp_path / "test_snippet.py").write_text("def test_conftest_loads():\n    pass\n")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "-p", "tripwire.testing.pytest_plugin", "test_snippet.py"]
    else:
        (tmp_path / "snippet.py").write_text(code)
        command = [sys.executable, "snippet.py"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 0, (
        f"{snippet.id} failed (exit {result.returncode}):\n--- code\n{code}\n"
        f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")
