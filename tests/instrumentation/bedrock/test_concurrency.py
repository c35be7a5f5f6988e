"""One client shared by many threads (boto3 clients are thread-safe): one span per call, each
with its own request id, parent and usage."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from opentelemetry import trace

from tripwire import semconv as sc

from .conftest import HAIKU

ASK = [{"role": "user", "content": [{"text": "hi"}]}]


def test_threads_share_a_client(env) -> None:
    client = env.client()
    tracer = env.tracer_provider.get_tracer("app")

    def work(i: int) -> tuple[str, str]:
        with tracer.start_as_current_span(f"request {i}") as parent:
            if i % 2:
                response = client.converse(modelId=HAIKU, messages=ASK)
            else:
                response = client.converse_stream(modelId=HAIKU, messages=ASK)
                list(response["stream"])
            return response["ResponseMetadata"]["RequestId"], \
                trace.format_span_id(parent.get_span_context().span_id)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(work, range(64)))
    llm = [s for s in env.spans() if s.name == f"chat {HAIKU}"]
    assert len(llm) == 64
    by_request = {s.attributes[sc.AWS_REQUEST_ID]: s for s in llm}
    assert len(by_request) == 64
    for request_id, parent_id in results:
        span = by_request[request_id]
        assert trace.format_span_id(span.parent.span_id) == parent_id
        assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 18
        assert span.end_time is not None
