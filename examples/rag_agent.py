"""A small RAG agent, fully offline: retrieval, a tool and LLM calls in one trace per turn.

    python examples/rag_agent.py            # Qdrant in-memory
    python examples/rag_agent.py chroma     # Chroma ephemeral

- Retrieval runs on a real vector store (``qdrant-client`` ``:memory:`` or an ephemeral
  ``chromadb`` client) with fixed, local keyword embeddings: nothing is downloaded.
- The LLM calls go through the real ``openai`` SDK to tripwire's fake OpenAI server, scripted
  to ask for a tool, to answer from weak context, and to get stuck calling the same tool.
- The tool is a plain function under ``@tool``; the model's tool call id is passed on, so the
  ``execute_tool`` span's ``gen_ai.tool.call.id`` matches ``tripwire.tool_call.ids`` on the
  chat span that asked for it.
- The enrichment processor flags the loop (``tripwire.tool.loop``); retrieval spans carry
  ids, scores, ``empty`` and ``low_relevance``. Each turn prints as a trace tree.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tripwire import decorators, semconv
from tripwire.console import TraceTreeExporter
from tripwire.decorators import tool
from tripwire.instrumentation.openai import OpenAIInstrumentor
from tripwire.testing.openai_server import FakeOpenAIServer, chat_reply

MODEL = "gpt-4o-mini"
COLLECTION = "handbook"

# Fixed embeddings: one axis per topic keyword (a text's vector counts its keywords), plus
# one "off-topic" axis for texts that mention none of them.
TOPICS = ("refund", "ship", "order", "warranty")
DIMENSIONS = len(TOPICS) + 1
HANDBOOK = {
    "policy-refunds": "Refunds are paid to the original card within 14 days of the return.",
    "policy-shipping": "We ship to 30 countries; an order leaves the warehouse in 2 days.",
    "policy-warranty": "Electronics carry a two-year warranty; keep the receipt.",
}
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


def embed(text: str) -> list[float]:
    words = text.lower()
    vector = [float(words.count(topic)) for topic in TOPICS]
    return [*vector, 0.0 if any(vector) else 1.0]


@tool
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order by its id."""
    return ORDERS.get(order_id, {"status": "unknown"})


# --- vector stores -------------------------------------------------------------------------

def qdrant_search(tracer_provider: TracerProvider, meter_provider: MeterProvider
                  ) -> Callable[[str], list[str]]:
    from qdrant_client import QdrantClient, models

    from tripwire.instrumentation.qdrant import QdrantInstrumentor

    QdrantInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    client = QdrantClient(":memory:")
    client.create_collection(COLLECTION, vectors_config=models.VectorParams(
        size=DIMENSIONS, distance=models.Distance.COSINE))
    client.upsert(COLLECTION, points=[
        models.PointStruct(id=str(uuid.uuid5(uuid.NAMESPACE_URL, key)), vector=embed(text),
                           payload={"key": key, "text": text})
        for key, text in HANDBOOK.items()
    ])

    def search(question: str) -> list[str]:
        hits = client.query_points(COLLECTION, query=embed(question), limit=2).points
        return [str((hit.payload or {}).get("text")) for hit in hits]

    return search


def chroma_search(tracer_provider: TracerProvider, meter_provider: MeterProvider
                  ) -> Callable[[str], list[str]]:
    import chromadb

    from tripwire.instrumentation.chromadb import ChromaInstrumentor
    from tripwire.runtime import update_settings

    # Chroma reports distances; with cosine space, distance = 1 - similarity, so a cut-off of
    # 0.5 matches the default minimum similarity of 0.5 (TRIPWIRE_RETRIEVAL_MAX_DISTANCE).
    update_settings(retrieval_max_distance=0.5)

    ChromaInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    collection = chromadb.EphemeralClient().create_collection(
        COLLECTION, embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    collection.add(ids=list(HANDBOOK), documents=list(HANDBOOK.values()),
                   embeddings=[embed(text) for text in HANDBOOK.values()])

    def search(question: str) -> list[str]:
        result = collection.query(query_embeddings=[embed(question)], n_results=2)
        return list((result.get("documents") or [[]])[0])

    return search


# --- the agent -----------------------------------------------------------------------------

def agent_turn(client: Any, search: Callable[[str], list[str]], question: str,
               max_steps: int = 4) -> str:
    context = "\n".join(search(question))
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Answer from the context. Context:\n" + context},
        {"role": "user", "content": question},
    ]
    for _ in range(max_steps):
        reply = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        message = reply.choices[0].message
        if not message.tool_calls:
            return str(message.content)
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            result = lookup_order(**json.loads(call.function.arguments), tool_call_id=call.id)
            messages.append({"role": "tool", "tool_call_id": call.id,
                             "content": json.dumps(result)})
    return "(gave up: too many tool calls)"


def scripted_server() -> FakeOpenAIServer:
    server = FakeOpenAIServer().start()
    loop_call = '{"order_id": "9999"}'
    server.enqueue(
        # 1. Good context, one tool call, then the answer.
        chat_reply(tool_calls=[("call_order_1234", "lookup_order", '{"order_id": "1234"}')],
                   usage=(120, 18)),
        chat_reply("Order 1234 shipped with DHL; refunds take 14 days once returned.",
                   usage=(160, 16)),
        # 2. Nothing relevant in the handbook: the model answers anyway (low relevance).
        chat_reply("Our office cat is called Miso.", usage=(90, 8)),
        # 3. The model keeps asking for the same lookup: a loop.
        chat_reply(tool_calls=[("call_loop_1", "lookup_order", loop_call)], usage=(100, 10)),
        chat_reply(tool_calls=[("call_loop_2", "lookup_order", loop_call)], usage=(120, 10)),
        chat_reply(tool_calls=[("call_loop_3", "lookup_order", loop_call)], usage=(140, 10)),
        chat_reply("I could not find order 9999.", usage=(160, 8)),
    )
    return server


def enrich(processor: SpanProcessor, meter_provider: MeterProvider) -> SpanProcessor:
    try:
        from tripwire.processors import EnrichingSpanProcessor
    except ImportError:
        return processor
    return EnrichingSpanProcessor(processor, meter_provider=meter_provider)  # type: ignore[no-any-return]


def check_call_ids(spans: tuple[ReadableSpan, ...]) -> None:
    requested = {i for s in spans for i in (s.attributes or {}).get(
        semconv.TRIPWIRE_TOOL_CALL_IDS, ())}
    executed = {(s.attributes or {}).get(semconv.GEN_AI_TOOL_CALL_ID) for s in spans
                if s.name.startswith(semconv.OP_EXECUTE_TOOL)}
    print(f"tool calls requested by the model: {sorted(requested)}")
    print(f"tool calls executed (matched by id): {sorted(i for i in executed if i)}")


def main(argv: list[str]) -> int:
    import openai

    store = argv[1] if len(argv) > 1 else "qdrant"
    resource = Resource.create({"service.name": "rag-agent"})
    meter_provider = MeterProvider(resource=resource, metric_readers=[InMemoryMetricReader()])
    tracer_provider = TracerProvider(resource=resource)
    recorded = InMemorySpanExporter()
    for exporter in (TraceTreeExporter(), recorded):
        tracer_provider.add_span_processor(enrich(SimpleSpanProcessor(exporter), meter_provider))
    OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    decorators.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
    search = (chroma_search if store == "chroma" else qdrant_search)(tracer_provider,
                                                                       meter_provider)
    tracer: trace.Tracer = tracer_provider.get_tracer("rag-agent")
    server = scripted_server()
    client = openai.OpenAI(base_url=server.base_url, api_key="demo-key-not-secret", max_retries=0)
    try:
        for question in ("Where is my order 1234 and how do refunds work?",
                         "What is the name of the office cat?",
                         "Where is order 9999?"):
            print(f"user: {question}")
            with tracer.start_as_current_span("agent turn"):
                answer = agent_turn(client, search, question)
            print(f"agent: {answer}\n")
        check_call_ids(recorded.get_finished_spans())
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
