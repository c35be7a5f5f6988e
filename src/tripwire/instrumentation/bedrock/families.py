"""InvokeModel response bodies and stream chunks of the model families other than Anthropic's
Messages format, each in its own shape and casing.

Bodies are recognised by their shape, not by the model id: inference profiles, ARNs and
imported models say nothing reliable about the family.

=====================  ==========================================  =============================
family                 finish reason (kept as sent)                usage
=====================  ==========================================  =============================
Amazon Titan text      ``results[].completionReason``;              ``inputTextTokenCount``,
                       chunks ``completionReason``                  ``results[].tokenCount``;
                                                                    chunks
                                                                    ``totalOutputTextTokenCount``
Amazon Titan embed     —                                            ``inputTextTokenCount``
Amazon Nova            ``stopReason``; chunks ``messageStop``       ``usage`` / ``metadata.usage``
                       (the Converse shapes)                        (``…InputTokenCount`` caches)
Meta Llama             ``stop_reason``                              ``prompt_token_count``,
                                                                    ``generation_token_count``
Mistral (text)         ``outputs[].stop_reason``                    headers / metrics
Mistral (chat),        ``choices[].finish_reason`` /                ``usage.prompt_tokens`` /
AI21 Jamba, OpenAI-    ``choices[].stop_reason``                    ``completion_tokens`` when
compatible bodies                                                   sent, else headers
Cohere Command         ``generations[].finish_reason``              headers / metrics
Cohere Command R       ``finish_reason``                            ``meta.billed_units`` when
                                                                    sent, else headers
AI21 Jurassic-2        ``completions[].finishReason.reason``        headers
Claude text            ``stop_reason``                              headers / metrics
completion
=====================  ==========================================  =============================

Every field is read on its own: a value of the wrong type (or an implausible count) is
skipped, and the other fields are still recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tripwire._core import content
from tripwire._core.fields import plausible_count
from tripwire._core.invocation import Result
from tripwire._core.tools import RequestedToolCall
from tripwire.instrumentation.bedrock import converse
from tripwire.instrumentation.bedrock.common import (
    CONTENT_FILTERED,
    GUARDRAIL_INTERVENED,
    mark_refusal,
    schema_finish,
    set_usage,
)

GUARDRAIL_ACTION = "amazon-bedrock-guardrailAction"
GUARDRAIL_TRACE = "amazon-bedrock-trace"
METRICS = "amazon-bedrock-invocationMetrics"

# Finish reasons (lower case) saying a safety filter, not the model, ended the answer.
_FILTERED = frozenset({"content_filtered", "content_filter", "error_toxic"})
# Top-level keys of Nova's (Converse-shaped) stream chunks.
_NOVA_EVENTS = frozenset(("contentBlockDelta", "contentBlockStart", "messageStart",
                          "messageStop", "metadata", "contentBlockStop"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _index(value: Any, default: int) -> int:
    index = plausible_count(value)  # Titan sends 0.0
    return default if index is None else index


class FamilyFold:
    """What a family's response body, or its stream chunks one by one, say. Counts are the
    last seen (Llama's ``generation_token_count`` is cumulative, Titan's total comes last)."""

    __slots__ = ("_finish", "_input", "_nova", "_nova_usage", "_output", "_texts",
                 "_tool_calls", "guardrail", "metrics", "model", "response_id", "trace")

    def __init__(self) -> None:
        self._finish: dict[int, str] = {}
        self._texts: dict[int, list[str]] = {}
        self._input: int | None = None
        self._output: int | None = None
        self._tool_calls: list[RequestedToolCall] = []
        # Nova: a Converse fold (body) or a Converse stream accumulator (chunks)
        self._nova: Any = None
        self._nova_usage: Any = None
        self.response_id: str | None = None
        self.model: str | None = None
        self.guardrail = False
        self.trace: Any = None
        self.metrics: Any = None

    # --- folding --------------------------------------------------------------------------
    def add_bedrock_keys(self, payload: Mapping[str, Any]) -> None:
        """What Bedrock itself adds to any family's body or chunk: the guardrail's action
        and trace, the invocation metrics."""
        if payload.get(GUARDRAIL_ACTION) == "INTERVENED":
            self.guardrail = True
        trace = payload.get(GUARDRAIL_TRACE)
        if isinstance(trace, Mapping) and trace:
            self.trace = trace
        if METRICS in payload:
            self.metrics = payload[METRICS]

    def add(self, payload: Mapping[str, Any]) -> None:
        """One whole body, or one stream chunk's JSON."""
        self.add_bedrock_keys(payload)
        if self._add_nova(payload):
            return
        self._add_titan(payload)
        self._add_top_level(payload)
        for key, reader in _LISTS:
            items = payload.get(key)
            if isinstance(items, list):
                for position, item in enumerate(items):
                    if isinstance(item, Mapping):
                        reader(self, item, _index(item.get("index"), position))
        usage = payload.get("usage")
        if isinstance(usage, Mapping):  # OpenAI-compatible bodies (Mistral chat, Jamba)
            self._counts(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        for meta in (payload.get("meta"), _get(payload.get("response"), "meta")):
            billed = _get(meta, "billed_units")  # Cohere Command R
            if isinstance(billed, Mapping):
                self._counts(billed.get("input_tokens"), billed.get("output_tokens"))

    def _add_nova(self, payload: Mapping[str, Any]) -> bool:
        output = payload.get("output")
        if isinstance(output, Mapping) and "message" in output:  # a whole Nova body
            message = output.get("message")
            blocks = message.get("content") if isinstance(message, Mapping) else None
            self._nova = ([b for b in blocks if isinstance(b, Mapping)]
                          if isinstance(blocks, list) else [], payload.get("stopReason"))
            self._nova_usage = payload.get("usage")
            return True
        if not _NOVA_EVENTS.isdisjoint(payload):  # a Nova stream chunk
            if not isinstance(self._nova, converse.ConverseStreamAccumulator):
                # (the Converse stream accumulator reads nothing from its request)
                self._nova = converse.ConverseStreamAccumulator(None)  # type: ignore[arg-type]
            self._nova.add(payload)  # read only: no copy per chunk
            metadata = payload.get("metadata")
            if isinstance(metadata, Mapping) and isinstance(metadata.get("usage"), Mapping):
                self._nova_usage = metadata["usage"]
            return True
        return False

    def _add_titan(self, payload: Mapping[str, Any]) -> None:
        if "inputTextTokenCount" in payload:
            self._counts(payload["inputTextTokenCount"], None)
        if "totalOutputTextTokenCount" in payload:  # stream chunks
            self._counts(None, payload["totalOutputTextTokenCount"])
        results = payload.get("results")
        if isinstance(results, list):  # a whole body: one result per numResults
            counts: list[int] = []
            for position, item in enumerate(results):
                if not isinstance(item, Mapping):
                    continue
                self._piece(position, item.get("outputText"))
                self._stop(position, item.get("completionReason"))
                count = plausible_count(item.get("tokenCount"))
                if count is not None:
                    counts.append(count)
            if counts:
                self._counts(None, sum(counts))
        index = _index(payload.get("index"), 0)
        self._piece(index, payload.get("outputText"))  # stream chunks
        self._stop(index, payload.get("completionReason"))

    def _add_top_level(self, payload: Mapping[str, Any]) -> None:
        # Llama (generation, stop_reason), Claude text completion (completion, stop_reason),
        # Cohere Command R (text, finish_reason, response_id).
        for key in ("generation", "completion", "text"):
            self._piece(0, payload.get(key))
        self._stop(0, payload.get("stop_reason"))
        self._stop(0, payload.get("finish_reason"))
        self._counts(payload.get("prompt_token_count"), payload.get("generation_token_count"))
        for key in ("id", "response_id"):
            value = _text(payload.get(key))
            if value:
                self.response_id = value
                break
        model = _text(payload.get("model"))
        if model:
            self.model = model

    def _choice(self, item: Mapping[str, Any], index: int) -> None:
        """``choices[]`` (OpenAI-compatible: Mistral chat, Jamba, DeepSeek, imported models)."""
        reason = item.get("finish_reason")
        self._stop(index, reason if _text(reason) else item.get("stop_reason"))
        self._piece(index, item.get("text"))
        for key in ("message", "delta"):
            message = item.get(key)
            if isinstance(message, Mapping):
                self._piece(index, message.get("content"))
                calls = message.get("tool_calls") if key == "message" else None
                for call in calls if isinstance(calls, list) else ():
                    function = _get(call, "function")
                    name = _text(_get(function, "name"))
                    if name:
                        self._tool_calls.append(RequestedToolCall(
                            _text(_get(call, "id")), name, _get(function, "arguments")))

    def _mistral_output(self, item: Mapping[str, Any], index: int) -> None:
        """``outputs[]`` (Mistral text completion)."""
        self._piece(index, item.get("text"))
        self._stop(index, item.get("stop_reason"))

    def _generation(self, item: Mapping[str, Any], index: int) -> None:
        """``generations[]`` (Cohere Command)."""
        self._piece(index, item.get("text"))
        self._stop(index, item.get("finish_reason"))

    def _completion(self, item: Mapping[str, Any], index: int) -> None:
        """``completions[]`` (AI21 Jurassic-2): ``finishReason`` is an object."""
        self._piece(index, _get(item.get("data"), "text"))
        reason = item.get("finishReason")
        self._stop(index, _get(reason, "reason") if isinstance(reason, Mapping) else reason)

    def _piece(self, index: int, text: Any) -> None:
        if isinstance(text, str) and text:
            self._texts.setdefault(index, []).append(text)

    def _stop(self, index: int, reason: Any) -> None:
        if isinstance(reason, str) and reason:
            self._finish[index] = reason

    def _counts(self, inputs: Any, outputs: Any) -> None:
        count = plausible_count(inputs)
        if count is not None:
            self._input = count
        count = plausible_count(outputs)
        if count is not None:
            self._output = count

    # --- the result -----------------------------------------------------------------------
    def apply(self, result: Result) -> None:
        """Fill ``result`` (which holds Bedrock's own header or invocation-metric counts: the
        body's counts, where it has them, take over)."""
        if self.response_id:
            result.response_id = self.response_id
        if self.model:
            result.response_model = self.model
        if self._nova is not None:
            self._apply_nova(result)
        else:
            self._apply_family(result)
        if self.guardrail and not result.refusal:
            mark_refusal(result, GUARDRAIL_INTERVENED, self.trace)

    def _apply_family(self, result: Result) -> None:
        set_usage(result, self._input, self._output, None, None)
        self._apply_tool_calls(result)
        finishes = [reason for _, reason in sorted(self._finish.items())]
        result.finish_reasons.extend(finishes)
        for reason in finishes:
            lowered = reason.lower()
            if lowered == "guardrail_intervened":
                mark_refusal(result, GUARDRAIL_INTERVENED, self.trace)
            elif lowered in _FILTERED:
                mark_refusal(result, CONTENT_FILTERED, None)
            if result.refusal:
                break
        indexes = sorted(set(self._texts) | set(self._finish))
        texts = {i: "".join(self._texts.get(i, ())) for i in indexes}
        finish = self._finish
        calls = self._tool_calls

        def messages() -> list[dict[str, Any]]:
            out = []
            for position, i in enumerate(indexes):
                parts = [content.text_part(texts[i])] if texts[i] else []
                if position == 0:
                    parts += [content.tool_call_part(c.id, c.name, c.arguments) for c in calls]
                out.append(content.message("assistant", parts,
                                           schema_finish(finish[i]) if i in finish else None))
            return out

        result.output_messages = messages
        result.output_text = lambda: "".join(texts.values())

    def _apply_tool_calls(self, result: Result) -> None:
        result.tool_calls.extend(self._tool_calls)

    def _apply_nova(self, result: Result) -> None:
        nova = self._nova
        if isinstance(nova, converse.ConverseStreamAccumulator):
            folded = nova.result()
            result.finish_reasons.extend(folded.finish_reasons)
            result.tool_calls.extend(folded.tool_calls)
            result.output_messages = folded.output_messages
            result.output_text = folded.output_text
            if folded.refusal:
                result.refusal, result.refusal_source = True, folded.refusal_source
                result.refusal_category = folded.refusal_category
        else:
            blocks, stop = nova
            converse.fill_result(result, blocks, stop, None, self.trace)
        usage = self._nova_usage
        if isinstance(usage, Mapping):
            # Nova names its cache counts like the invocation metrics, not like Converse.
            set_usage(result, plausible_count(usage.get("inputTokens")),
                      plausible_count(usage.get("outputTokens")),
                      plausible_count(usage.get("cacheReadInputTokenCount")),
                      plausible_count(usage.get("cacheWriteInputTokenCount")))


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else None


_LISTS = (("choices", FamilyFold._choice), ("outputs", FamilyFold._mistral_output),
          ("generations", FamilyFold._generation), ("completions", FamilyFold._completion))
