"""The plugin's server fixtures hand out started servers that answer on 127.0.0.1."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest


@pytest.mark.parametrize("fixture", ["fake_openai", "fake_anthropic", "fake_gemini", "fake_bedrock"])
def test_server_fixture_is_serving(request, fixture) -> None:
    server = request.getfixturevalue(fixture)
    assert server.url.startswith("http://127.0.0.1:")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server.url + "/no-such-endpoint", timeout=5)
    assert info.value.code in (400, 404)
    assert server.last_request.path == "/no-such-endpoint"
