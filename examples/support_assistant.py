"""An instrumented support assistant, end to end, offline by default.

    python examples/support_assistant.py

Without OPENAI_API_KEY it starts tripwire's fake OpenAI server on 127.0.0.1 and scripts the
answers so each quiet failure shows up once: a tool call, a streamed answer, a refusal, a
429 the SDK retried, and (with the enrichment processor) cost, a budget crossing and the
per-request rollup. Each request's trace prints as a tree. With OPENAI_API_KEY set it talks
to the real API; with OTEL_EXPORTER_OTLP_ENDPOINT set it also exports OTLP.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanProcessor

import tripwire
import tripwire.decorators
from tripwire.console import TraceTreeExporter
from tripwire.instrumentation.openai import OpenAIInstrumentor

MODEL = os.environ.get("DEMO_MODEL", "gpt-4o-mini")
ORDERS = {"1234": {"status": "shipped", "carrier": "DHL", "eta": "2026-11-27"}}
TOOLS = [{
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Look up an order by its id.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                       "required": ["order_id"], "additionalProperties": False},
    },
}]
# Tiny on purpose, so the first request (a tool call and a streamed answer) crosses it.
REQUEST_BUDGET_USD = float(os.environ.get("DEMO_REQUEST_BUDGET_USD", "0.00006"))
SYSTEM = "You are the support assistant of an online shop. Be brief."


@tripwire.tool
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order by its id."""
    return ORDERS.get(order_id, {"status": "unknown"})


def build_providers() -> tuple[TracerProvider, MeterProvider, MetricReader]:
    resource = Resource.create({"service.name": "support-assistant"})
    tracer_provider = TracerProvider(resource=resource)
    exporters: list[Any] = [TraceTreeExporter()]
    readers: list[MetricReader] = [InMemoryMetricReader()]
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        exporters.append(OTLPSpanExporter())
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(),
                                                     export_interval_millis=5000))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    for exporter in exporters:
        processor: SpanProcessor = SimpleSpanProcessor(exporter)
        processor = enrich(processor, meter_provider)
        tracer_provider.add_span_processor(processor)
    return tracer_provider, meter_provider, readers[0]


def enrich(processor: SpanProcessor, meter_provider: MeterProvider) -> SpanProcessor:
    try:
        from tripwire.processors import EnrichingSpanProcessor
    except ImportError:  # the enrichment processor is optional for this demo
        return processor
    return EnrichingSpanProcessor(processor, meter_provider=meter_provider)  # type: ignore[no-any-return]


def handle_request(client: Any, tracer: trace.Tracer, question: str) -> None:
    """One support request as one trace; its tree prints when the root span ends."""
    print(f"customer: {question}")
    with tracer.start_as_current_span("support request", attributes={"http.route": "/support"}), \
            tripwire.budget(usd=REQUEST_BUDGET_USD, name="per-request"):
        try:
            reply = answer(client, tracer, question)
        except Exception as exc:  # show the failure, keep serving the next customer
            reply = f"(error) {type(exc).__name__}: {exc}"
        print(f"assistant: {reply}\n")


def answer(client: Any, tracer: trace.Tracer, question: str) -> str:
    """Maybe a tool call, then a streamed answer."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM},
                                      {"role": "user", "content": question}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    choice = first.choices[0]
    if choice.message.refusal:
        return f"(refused) {choice.message.refusal}"
    if choice.message.tool_calls:
        messages.append(choice.message.model_dump(exclude_none=True))
        for call in choice.message.tool_calls:
            # tool_call_id links the execute_tool span to the model's request for it.
            result = lookup_order(**json.loads(call.function.arguments), tool_call_id=call.id)
            messages.append({"role": "tool", "tool_call_id": call.id,
                             "content": json.dumps(result)})
    elif choice.message.content:
        return choice.message.content
    parts: list[str] = []
    stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True,
                                            stream_options={"include_usage": True})
    with stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
    return "".join(parts)


def main() -> int:
    import openai

    tracer_provider, meter_provider, _ = build_providers()
    OpenAIInstrumentor().instrument(tracer_provider=tracer_provider,
                                    meter_provider=meter_provider)
    tripwire.decorators.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
    tracer = tracer_provider.get_tracer("support-assistant")
    server = None
    if os.environ.get("OPENAI_API_KEY"):
        client = openai.OpenAI(max_retries=2)
    else:
        from demo_script import start_scripted_server

        server = start_scripted_server()
        client = openai.OpenAI(base_url=server.base_url, api_key="demo-key-not-secret",
                               max_retries=2)
    questions = [
        "Where is my order 1234?",
        "Tell me the home address of your CEO.",
        "Do you ship to Norway?",
    ]
    try:
        for question in questions:
            handle_request(client, tracer, question)
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
