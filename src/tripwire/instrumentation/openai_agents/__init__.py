"""OpenTelemetry instrumentation for the OpenAI Agents SDK (``openai-agents``).

Usage::

    from tripwire.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    OpenAIAgentsInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

It plugs into the SDK's own tracing-processor interface (``agents.add_trace_processor``; the
SDK's other processors, such as its exporter to the OpenAI dashboard, stay) and maps what the
SDK reports onto GenAI semconv v1.41 spans (docs/agents.md):

- a trace (one ``Runner.run``, or the user's ``agents.trace(...)`` block around several) ->
  ``invoke_workflow {workflow name}`` (INTERNAL, ``gen_ai.workflow.name``; the trace's
  ``group_id`` as ``gen_ai.conversation.id``);
- an agent's turn -> ``invoke_agent {agent name}`` (INTERNAL, ``gen_ai.agent.name``);
- a function tool -> ``execute_tool {tool name}`` (``gen_ai.tool.call.id``, and
  ``tripwire.tool.arguments_hash`` for loop detection);
- a handoff -> event ``tripwire.agent.handoff`` (from, to) on the handing-off agent's span;
- a guardrail that trips -> ``tripwire.guardrail.triggered`` and ``tripwire.guardrail.name``
  on the agent span (the processor counts it in ``tripwire.refusals``, source ``guardrail``).

Workflow, agent and tool spans are made the current OpenTelemetry span while the SDK runs
them (the SDK calls a processor's ``on_span_start``/``on_span_end`` from the task that does
the work), so spans made inside — the OpenAI client's, a vector store's, the user's own —
nest under them.

Model calls are recorded once. When tripwire's OpenAI instrumentor is active, the SDK's
calls through its ``openai`` client get their ``chat``/``responses`` spans from it, nested
under the agent span; the SDK's own generation/response spans are then not recorded. Without
it (or for models that do not use the ``openai`` client: LiteLLM, any-llm), a ``chat`` span is
built from the SDK's generation/response data (model, usage, response id).

Content (tool arguments and results, model inputs and outputs) is recorded only when content
capture is on, and only what the SDK itself records (``trace_include_sensitive_data``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from tripwire import semconv
from tripwire._core import content, patching
from tripwire._core.accounting import start_span
from tripwire._core.fields import get, safe_attributes, safe_text
from tripwire._core.guard import guard, log_failure
from tripwire._core.instrumentor import TripwireInstrumentor, Wrapped, resolve
from tripwire._core.invocation import LLMCall, Request, Result
from tripwire._core.telemetry import Telemetry, make_telemetry
from tripwire._core.tools import arguments_hash
from tripwire.instrumentation.openai.common import usage_numbers
from tripwire.instrumentation.openai_agents.package import _instruments
from tripwire.processors.state import BoundedTable

# The SDK's spans and traces still open: bounded, for those the SDK never ends.
_MAX_OPEN = 10000
_OPEN_TTL = 3600.0
# error.type of a failed agent turn or tool (the SDK reports errors as messages only).
_AGENT_ERROR = "agent_error"

# Marks the OpenTelemetry context of one of our execute_tool spans (the SDK's ToolContext
# is built inside it: the tool call id and arguments are read there).
_TOOL_KEY = otel_context.create_key("tripwire-openai-agents-tool")


class _Node:
    """One SDK trace or span as we mapped it: our span (None for SDK spans we do not record:
    their children hang from ``parent``), the context token while it is current, and the
    accounting that must see its end."""

    __slots__ = ("accounting", "call", "parent", "span", "token")

    def __init__(self, span: Any, parent: _Node | None, accounting: Any = None,
                 call: LLMCall | None = None) -> None:
        self.span = span
        self.parent = parent
        self.accounting = accounting
        self.call = call
        self.token: object = None

    def recorded(self) -> Any:
        """The nearest span of ours at or above this node."""
        node: _Node | None = self
        while node is not None:
            if node.span is not None:
                return node.span
            node = node.parent
        return None

    def agent(self) -> Any:
        """The nearest agent span of ours at or above this node."""
        node: _Node | None = self
        while node is not None:
            span = node.span
            if span is not None and node.call is None and _operation(span) == semconv.OP_INVOKE_AGENT:
                return span
            node = node.parent
        return None


def _operation(span: Any) -> Any:
    attrs = getattr(span, "attributes", None)
    return attrs.get(semconv.GEN_AI_OPERATION_NAME) if attrs is not None else None


def _openai_instrumented() -> bool:
    """Whether tripwire's OpenAI instrumentor is active (it then records the SDK's calls
    through the ``openai`` client)."""
    try:
        from tripwire.instrumentation.openai import OpenAIInstrumentor
    except Exception:
        return False
    instance = getattr(OpenAIInstrumentor, "_instance", None)  # BaseInstrumentor: a singleton
    return instance is not None and bool(instance.is_instrumented_by_opentelemetry)


def _via_openai_client(data: Any) -> bool:
    """Whether the SDK made this model call through an ``openai`` client: its response
    spans always are; a generation span is unless a non-OpenAI model class made it (their
    ``model_config`` names the implementation: ``model_impl``)."""
    if type(data).__name__ == "ResponseSpanData":
        return True
    config = getattr(data, "model_config", None)
    return not (isinstance(config, Mapping) and config.get("model_impl"))


class AgentsTracingProcessor:
    """The SDK ``TracingProcessor`` (duck-typed: the SDK calls these six methods). Inert
    while ``telemetry`` is None (after ``uninstrument()``: the SDK has no way to remove a
    processor)."""

    def __init__(self) -> None:
        self.telemetry: Telemetry | None = None
        self._open: BoundedTable[str, _Node] = BoundedTable(_MAX_OPEN, _OPEN_TTL)

    # --- traces: workflows --------------------------------------------------------------
    def on_trace_start(self, sdk_trace: Any) -> None:
        telemetry = self.telemetry
        if telemetry is None:
            return
        with guard("openai-agents trace start"):
            name = str(getattr(sdk_trace, "name", "") or "")
            attrs: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: semconv.OP_INVOKE_WORKFLOW}
            if name:
                attrs[semconv.GEN_AI_WORKFLOW_NAME] = name
            group = getattr(sdk_trace, "group_id", None)
            if isinstance(group, str) and group:
                attrs[semconv.GEN_AI_CONVERSATION_ID] = group
            span_name = f"{semconv.OP_INVOKE_WORKFLOW} {name}" if name else semconv.OP_INVOKE_WORKFLOW
            node = self._start(telemetry, span_name, attrs, None)
            self._activate(node)
            self._open.set(str(sdk_trace.trace_id), node)

    def on_trace_end(self, sdk_trace: Any) -> None:
        node = self._open.pop(str(getattr(sdk_trace, "trace_id", "")))
        if node is not None:
            with guard("openai-agents trace end"):
                self._end(node, None)

    # --- spans --------------------------------------------------------------------------
    def on_span_start(self, sdk_span: Any) -> None:
        telemetry = self.telemetry
        if telemetry is None:
            return
        with guard("openai-agents span start"):
            parent = self._parent(sdk_span)
            data = sdk_span.span_data
            kind = getattr(data, "type", None)
            node: _Node
            if kind == "agent":
                name = str(getattr(data, "name", "") or "")
                attrs: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: semconv.OP_INVOKE_AGENT}
                if name:
                    attrs[semconv.GEN_AI_AGENT_NAME] = name
                node = self._start(telemetry, f"{semconv.OP_INVOKE_AGENT} {name}".rstrip(),
                                   attrs, parent)
                self._activate(node)
            elif kind == "function":
                name = str(getattr(data, "name", "") or "")
                attrs = {semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
                         semconv.GEN_AI_TOOL_NAME: name,
                         semconv.GEN_AI_TOOL_TYPE: semconv.TOOL_TYPE_FUNCTION}
                node = self._start(telemetry, f"{semconv.OP_EXECUTE_TOOL} {name}".rstrip(),
                                   attrs, parent)
                self._activate(node, tool=True)
            elif kind in ("generation", "response") and not (
                    _openai_instrumented() and _via_openai_client(data)):
                node = self._start_model_call(telemetry, data, parent)
            else:  # recorded elsewhere (model calls), or as part of its agent span
                node = _Node(None, parent)
            self._open.set(str(sdk_span.span_id), node)

    def on_span_end(self, sdk_span: Any) -> None:
        node = self._open.pop(str(getattr(sdk_span, "span_id", "")))
        if node is None:
            return
        with guard("openai-agents span end"):
            data = sdk_span.span_data
            kind = getattr(data, "type", None)
            error = getattr(sdk_span, "error", None)
            if node.call is not None:
                self._end_model_call(node, data, error)
                return
            if kind == "handoff":
                self._handoff(node, data)
            elif kind == "guardrail":
                self._guardrail(node, data)
            elif kind == "function" and node.span is not None:
                self._tool_result(node.span, data, error)
            if node.span is not None:
                self._end(node, None if kind == "function" else error)

    def shutdown(self) -> None:
        self._open.clear()

    def force_flush(self) -> None:
        pass

    # --- helpers ------------------------------------------------------------------------
    def _parent(self, sdk_span: Any) -> _Node | None:
        parent_id = getattr(sdk_span, "parent_id", None)
        node = self._open.get(str(parent_id)) if parent_id else None
        if node is None:
            node = self._open.get(str(getattr(sdk_span, "trace_id", "")))
        return node

    @staticmethod
    def _context(parent: _Node | None) -> Any:
        span = parent.recorded() if parent is not None else None
        if span is None:
            return otel_context.get_current()
        return trace.set_span_in_context(span)

    def _start(self, telemetry: Telemetry, name: str, attrs: dict[str, Any],
               parent: _Node | None) -> _Node:
        # Names come from the application's agents and tools: made encodable as every
        # span's are (a lone surrogate would fail the whole export batch).
        dropped = safe_attributes(attrs)
        if dropped:
            attrs[semconv.TRIPWIRE_INVALID_ATTRIBUTES] = tuple(dropped)
        span, accounting = start_span(telemetry.tracer, safe_text(name), SpanKind.INTERNAL,
                                      attrs, self._context(parent))
        return _Node(span, parent, accounting)

    @staticmethod
    def _activate(node: _Node, tool: bool = False) -> None:
        ctx = trace.set_span_in_context(node.span)
        if tool:
            ctx = otel_context.set_value(_TOOL_KEY, node.span, ctx)
        node.token = otel_context.attach(ctx)

    @staticmethod
    def _end(node: _Node, error: Any) -> None:
        span = node.span
        try:
            if error is not None:
                span.set_attribute(semconv.ERROR_TYPE, _AGENT_ERROR)
                message = get(error, "message")
                span.set_status(Status(StatusCode.ERROR, str(message) if message else None))
        finally:
            token, node.token = node.token, None
            # Detached only where it was attached: the SDK ends a span from the task that
            # started it; if not, the other context is left alone (no detach error).
            if token is not None and trace.get_current_span() is span:
                otel_context.detach(token)  # type: ignore[arg-type]
            span.end()
            if node.accounting is not None:
                node.accounting.ended(span)

    @staticmethod
    def _handoff(node: _Node, data: Any) -> None:
        span = node.agent()
        if span is None:
            return
        attrs: dict[str, Any] = {}
        for key, value in ((semconv.TRIPWIRE_AGENT_HANDOFF_FROM, getattr(data, "from_agent", None)),
                           (semconv.TRIPWIRE_AGENT_HANDOFF_TO, getattr(data, "to_agent", None))):
            if isinstance(value, str) and value:
                attrs[key] = value
        span.add_event(semconv.EVENT_AGENT_HANDOFF, attrs)

    @staticmethod
    def _guardrail(node: _Node, data: Any) -> None:
        if getattr(data, "triggered", False) is not True:
            return
        span = node.agent()
        if span is None:
            return
        span.set_attribute(semconv.TRIPWIRE_GUARDRAIL_TRIGGERED, True)
        name = getattr(data, "name", None)
        if isinstance(name, str) and name:
            span.set_attribute(semconv.TRIPWIRE_GUARDRAIL_NAME, name)

    @staticmethod
    def _tool_result(span: Any, data: Any, error: Any) -> None:
        attrs: dict[str, Any] = {}
        if error is not None:
            attrs[semconv.ERROR_TYPE] = semconv.TOOL_ERROR_EXECUTION
            span.set_status(Status(StatusCode.ERROR, semconv.TOOL_ERROR_EXECUTION))
        if content.capture_mode().on_span:
            args = getattr(data, "input", None)
            if args is not None:
                attrs[semconv.GEN_AI_TOOL_CALL_ARGUMENTS] = content.to_json(
                    content.parse_json_or_text(args))
            output = getattr(data, "output", None)
            if output is not None:
                attrs[semconv.GEN_AI_TOOL_CALL_RESULT] = (
                    content.clean_text(output) if isinstance(output, str)
                    else content.to_json(output))
        if attrs:
            span.set_attributes(attrs)

    # --- model calls the OpenAI instrumentor does not see ---------------------------------
    def _start_model_call(self, telemetry: Telemetry, data: Any, parent: _Node | None) -> _Node:
        model = getattr(data, "model", None)
        model = model if isinstance(model, str) and model else None
        provider = semconv.PROVIDER_OPENAI
        config = getattr(data, "model_config", None)
        if isinstance(config, Mapping) and config.get("model_impl") and model and "/" in model:
            provider = model.split("/", 1)[0]  # LiteLLM-style "anthropic/claude-…"
        token = otel_context.attach(self._context(parent))
        try:
            call = LLMCall(telemetry, Request(operation=semconv.OP_CHAT, provider=provider,
                                              model=model))
        finally:
            otel_context.detach(token)
        return _Node(None, parent, call=call)

    @staticmethod
    def _end_model_call(node: _Node, data: Any, error: Any) -> None:
        call = node.call
        assert call is not None
        response = getattr(data, "response", None)
        usage = getattr(data, "usage", None) or get(response, "usage")
        # Read as the OpenAI instrumentor reads a Responses usage (bad counts are flagged by
        # the core, not silently dropped).
        result = Result(
            response_id=get(response, "id"), response_model=get(response, "model"),
            **usage_numbers(usage, "input_tokens", "output_tokens", "input_tokens_details",
                            "output_tokens_details"))
        if result.response_model and call.request.model is None:
            call.span.update_name(f"{semconv.OP_CHAT} {result.response_model}")
            call.span.set_attribute(semconv.GEN_AI_REQUEST_MODEL, result.response_model)
        if error is not None:
            call.fail(RuntimeError(str(get(error, "message") or "model call failed")), result)
        else:
            call.finish(result)


# --- the tool call id and arguments, read where the SDK builds the tool's context ----------

def _tool_context_hook(wrapped: Any, instance: Any, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    span = otel_context.get_value(_TOOL_KEY)
    if span is not None and trace.get_current_span() is span:
        try:
            call_id = args[1] if len(args) > 1 else kwargs.get("tool_call_id")
            tool_call = args[2] if len(args) > 2 else kwargs.get("tool_call")
            arguments = kwargs.get("tool_arguments")
            if arguments is None:
                arguments = getattr(tool_call, "arguments", None)
            attrs: dict[str, Any] = {}
            if isinstance(call_id, str) and call_id:
                attrs[semconv.GEN_AI_TOOL_CALL_ID] = call_id
            attrs[semconv.TRIPWIRE_TOOL_ARGUMENTS_HASH] = arguments_hash(
                arguments if arguments is not None else {})
            span.set_attributes(attrs)
        except Exception:
            log_failure("openai-agents tool call id")
    return result


_processor = AgentsTracingProcessor()


def _registered(provider: Any, processor: Any) -> bool:
    multi = getattr(provider, "_multi_processor", None)
    processors = getattr(multi, "_processors", None)
    return isinstance(processors, tuple) and any(p is processor for p in processors)


class OpenAIAgentsInstrumentor(TripwireInstrumentor):
    """Workflow, agent and tool spans for the OpenAI Agents SDK (see the module doc)."""

    instruments = _instruments

    def _wrap(self, **kwargs: Any) -> Wrapped:
        import agents

        _processor.telemetry = make_telemetry(
            type(self).__module__, kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
        provider = agents.tracing.get_trace_provider()
        if not _registered(provider, _processor):
            agents.add_trace_processor(_processor)  # type: ignore[arg-type]
        wrapped: Wrapped = []
        owner = resolve(("agents.tool_context",), "ToolContext")
        if owner is not None and "from_agent_context" in vars(owner):
            try:
                patching.wrap_function(owner, "from_agent_context", _tool_context_hook)
                wrapped.append((owner, "from_agent_context"))
            except Exception:
                log_failure("instrument ToolContext.from_agent_context")
        return wrapped

    def _uninstrument(self, **kwargs: Any) -> None:
        _processor.telemetry = None  # the SDK cannot remove a processor: it goes inert
        super()._uninstrument(**kwargs)


__all__ = ["AgentsTracingProcessor", "OpenAIAgentsInstrumentor"]
