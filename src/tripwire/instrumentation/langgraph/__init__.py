"""OpenTelemetry instrumentation for LangGraph (``langgraph``) graph runs.

Usage::

    from tripwire.instrumentation.langgraph import LangGraphInstrumentor
    LangGraphInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

Every run of a compiled graph (``Pregel``: ``StateGraph(...).compile()``, the functional API,
the prebuilt ReAct agent) — ``invoke``, ``ainvoke``, ``stream``, ``astream``, and the
``*_events`` variants, which all run through ``stream`` / ``astream`` — becomes one span
(docs/agents.md):

- ``invoke_agent {name}`` (INTERNAL, ``gen_ai.agent.name``) for a graph made by
  ``langgraph.prebuilt.create_react_agent`` (or LangChain's ``create_agent``) after
  ``instrument()``; ``invoke_workflow {name}`` (INTERNAL, ``gen_ai.workflow.name``) for every
  other graph. ``name`` is the graph's name; for a graph left at LangGraph's default name
  (``LangGraph``), the run's ``run_name`` when the config gives one (a subgraph run as a node
  gets its node's name there).
- ``gen_ai.conversation.id``: the config's ``thread_id``, when set.
- ``tripwire.agent.supersteps``: the supersteps the graph ran (each runs one or more nodes);
  the recursion limit counts these.
- a run stopped by its recursion limit (``GraphRecursionError``): ``error.type =
  GraphRecursionError``, ``tripwire.agent.recursion_limit_reached = true`` and
  ``tripwire.agent.recursion_limit`` (when the config set one); the error reaches the
  application untouched.

The span is the current span while the graph runs (inside every ``next()`` of a stream), so
what nodes do — LLM calls (an instrumented ``openai`` client, which ``langchain-openai``
uses), LangChain retrievers and tools, subgraphs, your own spans — nests under it. The
processor then rolls up cost, tokens, LLM and tool calls and steps on it, and budgets of
scope ``agent`` apply to the run.
"""

from __future__ import annotations

import importlib
import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from tripwire import semconv
from tripwire._core import patching
from tripwire._core.generator import ActiveGenerator
from tripwire._core.guard import log_failure
from tripwire._core.instrumentor import TripwireInstrumentor, Wrapped, resolve
from tripwire._core.lifecycle import LiveSpan, span_wrapper
from tripwire._core.telemetry import Telemetry, make_telemetry
from tripwire.instrumentation.langgraph.package import _instruments

_DEFAULT_NAME = "LangGraph"  # what LangGraph names a graph compiled without a name
_RECURSION_ERROR = "GraphRecursionError"
_START = "__start__"  # langgraph.constants.START: the task that writes a run's input
# The graph run whose superstep loop runs in this context (read by the tick hook).
_RUN_KEY = otel_context.create_key("tripwire-langgraph-run")

# Graphs the agent factories built: their runs are agent runs (invoke_agent).
_agent_graphs: weakref.WeakSet[Any] = weakref.WeakSet()

# (candidate modules, name) of the functions that build agent graphs.
_AGENT_FACTORIES = (
    ("langgraph.prebuilt.chat_agent_executor", "create_react_agent"),
    ("langgraph.prebuilt", "create_react_agent"),
    ("langchain.agents.factory", "create_agent"),
    ("langchain.agents", "create_agent"),
)
_PREGEL_MODULES = ("langgraph.pregel.main", "langgraph.pregel")
_LOOP_MODULES = ("langgraph.pregel._loop", "langgraph.pregel.loop")


class GraphRun(LiveSpan[Any]):
    """The span of one graph run; counts its supersteps."""

    __slots__ = ("recursion_limit", "supersteps")

    def __init__(self, tracer: Any, operation: str, name: str, attributes: dict[str, Any],
                 recursion_limit: int | None) -> None:
        self.supersteps = 0
        self.recursion_limit = recursion_limit
        LiveSpan.__init__(self, tracer, f"{operation} {name}", SpanKind.INTERNAL, attributes)

    def _context(self, ctx: Any) -> Any:
        return otel_context.set_value(_RUN_KEY, self, ctx)

    def _record_end(self, result: Any, error_type: str | None) -> None:
        attrs: dict[str, Any] = {semconv.TRIPWIRE_AGENT_SUPERSTEPS: self.supersteps}
        if error_type == _RECURSION_ERROR:
            attrs[semconv.TRIPWIRE_AGENT_RECURSION_LIMIT_REACHED] = True
            if self.recursion_limit is not None:
                attrs[semconv.TRIPWIRE_AGENT_RECURSION_LIMIT] = self.recursion_limit
        try:
            self.set_safe(attrs)
        except Exception:
            log_failure("langgraph run attributes")


def _config(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapping[str, Any]:
    config = args[1] if len(args) > 1 else kwargs.get("config")
    if isinstance(config, Mapping):
        return config
    bound = getattr(instance, "config", None)  # graph.with_config(...)
    return bound if isinstance(bound, Mapping) else {}


def _name(instance: Any, config: Mapping[str, Any]) -> str:
    name = getattr(instance, "name", None)
    if not isinstance(name, str) or not name:
        name = _DEFAULT_NAME
    if name == _DEFAULT_NAME:
        run_name = config.get("run_name")
        if isinstance(run_name, str) and run_name:
            return run_name
    return name


class _RunSpans:
    """Starts a graph run's span as ``stream`` / ``astream`` is called; the generator it
    returns carries the span (made current inside each step, ended with the run)."""

    __slots__ = ("telemetry",)

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def start(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
              ) -> GraphRun | None:
        try:
            config = _config(instance, args, kwargs)
            name = _name(instance, config)
            attrs: dict[str, Any] = {}
            if instance in _agent_graphs:
                operation = semconv.OP_INVOKE_AGENT
                attrs[semconv.GEN_AI_AGENT_NAME] = name
            else:
                operation = semconv.OP_INVOKE_WORKFLOW
                attrs[semconv.GEN_AI_WORKFLOW_NAME] = name
            attrs[semconv.GEN_AI_OPERATION_NAME] = operation
            configurable = config.get("configurable")
            thread = configurable.get("thread_id") if isinstance(configurable, Mapping) else None
            if isinstance(thread, (str, int)) and not isinstance(thread, bool) and thread != "":
                attrs[semconv.GEN_AI_CONVERSATION_ID] = str(thread)
            limit = config.get("recursion_limit")
            limit = limit if type(limit) is int else None
        except Exception:
            log_failure("langgraph run mapping")
            return None
        return GraphRun.try_start(self.telemetry.tracer, operation, name, attrs, limit)

    @staticmethod
    def complete(live: GraphRun, result: Any) -> Any:
        if hasattr(result, "__next__") or hasattr(result, "__anext__"):
            try:
                return ActiveGenerator(result, live)
            except Exception:
                log_failure("langgraph run proxy")
        live.finish(None)
        return result


def _tick_hook(wrapped: Any, instance: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
    """``PregelLoop.tick``: True when a superstep is about to run; counted on the run."""
    more = wrapped(*args, **kwargs)
    if more:
        run = otel_context.get_value(_RUN_KEY)
        if isinstance(run, GraphRun):
            try:
                tasks = getattr(instance, "tasks", None) or {}
                # The superstep that only writes the run's input (LangGraph's step -1, its
                # __start__ task) runs no node of the graph: not counted.
                if any(getattr(t, "name", None) != _START for t in tasks.values()):
                    run.supersteps += 1
            except Exception:
                log_failure("langgraph superstep")
    return more


def _agent_factory_hook(wrapped: Any, instance: Any, args: tuple[Any, ...],
                        kwargs: dict[str, Any]) -> Any:
    graph = wrapped(*args, **kwargs)
    try:
        _agent_graphs.add(graph)
    except Exception:
        log_failure("langgraph agent graph")
    return graph


class LangGraphInstrumentor(TripwireInstrumentor):
    """Workflow and agent spans for LangGraph graph runs (see the module doc)."""

    instruments = _instruments

    def _wrap(self, **kwargs: Any) -> Wrapped:
        telemetry = make_telemetry(
            type(self).__module__, kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
        wrapped: Wrapped = []

        def wrap(owner: Any, name: str, wrapper: Any) -> None:
            if owner is None or name not in vars(owner) or (owner, name) in wrapped:
                return
            try:
                patching.wrap_function(owner, name, wrapper)
            except Exception:
                log_failure(f"instrument langgraph {name}")
                return
            wrapped.append((owner, name))

        pregel = resolve(_PREGEL_MODULES, "Pregel")
        runs = span_wrapper(_RunSpans(telemetry), is_async=False)  # both return generators
        wrap(pregel, "stream", runs)
        wrap(pregel, "astream", runs)
        wrap(resolve(_LOOP_MODULES, "PregelLoop"), "tick", _tick_hook)
        for module_name, name in _AGENT_FACTORIES:
            try:
                module = importlib.import_module(module_name)
            except Exception:
                continue  # langchain not installed, or another layout
            wrap(module, name, _agent_factory_hook)
        return wrapped


__all__ = ["LangGraphInstrumentor"]
