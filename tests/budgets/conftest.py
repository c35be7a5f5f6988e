"""A real Redis server (Debian's ``redis-server``) on a free 127.0.0.1 port, per test module,
and a fresh key namespace per test. ``scripts/install-test-deps.sh`` installs the server; it
is skipped only outside CI when the binary is missing (on CI a missing server fails)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from tripwire.testing.redis_server import LocalRedisServer


@pytest.fixture(scope="module")
def redis_server() -> Iterator[LocalRedisServer]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: scripts/install-test-deps.sh installs it")
        pytest.skip("redis-server is not installed (scripts/install-test-deps.sh)")
    with LocalRedisServer() as server:
        yield server


@pytest.fixture
def namespace() -> str:
    return f"tw-test-{uuid.uuid4().hex[:8]}"
