from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tripwire.instrumentation.bedrock import BedrockInstrumentor
from tripwire.testing.bedrock_server import FakeBedrockServer

from ..telemetry_env import TelemetryEnv, instrumented

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
# The dummy credentials the clients sign with; none of them may reach telemetry.
ACCESS_KEY = "AKIATRIPWIRETESTKEY01"
SECRET_KEY = "tripwire/SECRET/access+key0123456789abcd"
SESSION_TOKEN = "tripwire-SESSION-token-0123456789"
SECRETS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, "Signature=", "Credential=", "AWS4-HMAC")


@dataclass
class Env(TelemetryEnv):
    server: FakeBedrockServer

    def client(self, max_attempts: int = 1, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "bedrock-runtime", endpoint_url=self.server.url, region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            aws_session_token=SESSION_TOKEN,
            config=Config(retries={"total_max_attempts": max_attempts, "mode": "standard"},
                          **config))


@pytest.fixture
def env() -> Iterator[Env]:
    with instrumented(BedrockInstrumentor) as parts, FakeBedrockServer() as server:
        yield Env(server=server, **parts)
