"""Every attribute, span, event and metric name tripwire emits or reads.

Baseline: OpenTelemetry GenAI semantic conventions v1.41.0. Names under ``gen_ai.`` are the
spec's; names under ``tripwire.`` are our extensions (see docs/attributes.md). Nothing else in
the package spells these names as literals, so a rename happens here or nowhere.
"""

from __future__ import annotations

SEMCONV_VERSION = "1.41.0"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"

# --- GenAI: operation and provider -------------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"  # deprecated alias, read only (spans from older instrumentors)
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_DATA_SOURCE_ID = "gen_ai.data_source.id"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_AGENT_ID = "gen_ai.agent.id"

# --- GenAI: request -----------------------------------------------------------------------
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K = "gen_ai.request.top_k"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count"

# --- GenAI: response / usage --------------------------------------------------------------
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"

# --- OpenAI (GenAI conventions' openai.* attributes) --------------------------------------
OPENAI_REQUEST_SERVICE_TIER = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER = "openai.response.service_tier"
# deprecated names of the same, read only (spans of older instrumentors)
GEN_AI_OPENAI_REQUEST_SERVICE_TIER = "gen_ai.openai.request.service_tier"
GEN_AI_OPENAI_RESPONSE_SERVICE_TIER = "gen_ai.openai.response.service_tier"

# --- GenAI: content (opt-in only) ---------------------------------------------------------
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"
GEN_AI_RETRIEVAL_QUERY_TEXT = "gen_ai.retrieval.query.text"
GEN_AI_RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"
GEN_AI_REQUEST_TOP_K_RETRIEVAL = GEN_AI_REQUEST_TOP_K

# --- GenAI: tools -------------------------------------------------------------------------
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_TOOL_DESCRIPTION = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"

# --- GenAI: events ------------------------------------------------------------------------
EVENT_GEN_AI_CLIENT_INFERENCE_DETAILS = "gen_ai.client.inference.operation.details"

# --- Generic ------------------------------------------------------------------------------
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
HTTP_ROUTE = "http.route"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
AWS_REQUEST_ID = "aws.request_id"
AWS_BEDROCK_GUARDRAIL_ID = "aws.bedrock.guardrail.id"
SERVICE_NAME = "service.name"
# resource attributes naming the distribution that set the SDK up
TELEMETRY_DISTRO_NAME = "telemetry.distro.name"
TELEMETRY_DISTRO_VERSION = "telemetry.distro.version"
USER_ID = "user.id"
ENDUSER_ID = "enduser.id"

# --- Operation names (gen_ai.operation.name values) ---------------------------------------
OP_CHAT = "chat"
OP_TEXT_COMPLETION = "text_completion"
OP_GENERATE_CONTENT = "generate_content"
OP_EMBEDDINGS = "embeddings"
OP_RETRIEVAL = "retrieval"
OP_EXECUTE_TOOL = "execute_tool"
OP_INVOKE_AGENT = "invoke_agent"
OP_CREATE_AGENT = "create_agent"
INFERENCE_OPERATIONS = frozenset({OP_CHAT, OP_TEXT_COMPLETION, OP_GENERATE_CONTENT})
PRICED_OPERATIONS = INFERENCE_OPERATIONS | {OP_EMBEDDINGS}

# --- Provider names (gen_ai.provider.name well-known values) ------------------------------
PROVIDER_OPENAI = "openai"
PROVIDER_AZURE_OPENAI = "azure.ai.openai"
PROVIDER_AZURE_INFERENCE = "azure.ai.inference"
PROVIDER_ANTHROPIC = "anthropic"
PROVIDER_GCP_GEMINI = "gcp.gemini"
PROVIDER_GCP_VERTEX_AI = "gcp.vertex_ai"
PROVIDER_GCP_GEN_AI = "gcp.gen_ai"
PROVIDER_AWS_BEDROCK = "aws.bedrock"
PROVIDER_GROQ = "groq"
PROVIDER_DEEPSEEK = "deepseek"
PROVIDER_MISTRAL = "mistral_ai"
PROVIDER_PERPLEXITY = "perplexity"
PROVIDER_XAI = "x_ai"
PROVIDER_COHERE = "cohere"
PROVIDER_IBM_WATSONX = "ibm.watsonx.ai"

# --- Token types --------------------------------------------------------------------------
TOKEN_TYPE_INPUT = "input"
TOKEN_TYPE_OUTPUT = "output"

# --- Tool types ---------------------------------------------------------------------------
TOOL_TYPE_FUNCTION = "function"
TOOL_TYPE_EXTENSION = "extension"
TOOL_TYPE_DATASTORE = "datastore"

# --- Semconv metrics ----------------------------------------------------------------------
METRIC_GEN_AI_CLIENT_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_GEN_AI_CLIENT_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"

# Advised explicit bucket boundaries from the GenAI metrics spec.
TOKEN_USAGE_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)
DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)

# --- tripwire: usage ----------------------------------------------------------------------
TRIPWIRE_USAGE_ESTIMATED = "tripwire.usage.estimated"
# The provider reported token counts that cannot be right (negative, not whole, absurd):
# they are not recorded and never charged to a budget.
TRIPWIRE_USAGE_INVALID = "tripwire.usage.invalid"
# Keys of attributes left out because OTLP cannot encode their values (an integer beyond
# int64, a float that is not finite): the rest of the span is kept.
TRIPWIRE_INVALID_ATTRIBUTES = "tripwire.invalid_attributes"
TRIPWIRE_USAGE_ESTIMATE_METHOD = "tripwire.usage.estimate_method"
# An inference span that reports only one of its input and output counts: its cost is that
# of the known count, a lower bound.
TRIPWIRE_USAGE_INCOMPLETE = "tripwire.usage.incomplete"
# The part of gen_ai.usage.cache_creation.input_tokens written to a one-hour cache (Anthropic
# prices those writes higher than five-minute ones).
TRIPWIRE_USAGE_CACHE_CREATION_1H_INPUT_TOKENS = "tripwire.usage.cache_creation_1h.input_tokens"

# --- tripwire: the request's terms (providers without a semconv attribute for them) --------
# Service tier requested (Anthropic ``service_tier``, Gemini ``service_tier``) and the one
# the provider says served the call (Anthropic ``usage.service_tier``, Gemini's
# ``x-gemini-service-tier`` header or Vertex ``trafficType``). OpenAI's are openai.*.
TRIPWIRE_REQUEST_SERVICE_TIER = "tripwire.request.service_tier"
TRIPWIRE_RESPONSE_SERVICE_TIER = "tripwire.response.service_tier"
# Anthropic's inference speed (``speed``: ``standard`` | ``fast``), requested and served.
TRIPWIRE_REQUEST_SPEED = "tripwire.request.speed"
TRIPWIRE_RESPONSE_SPEED = "tripwire.response.speed"

# --- tripwire: one provider call counted once ----------------------------------------------
# On an LLM span that describes the same provider call as a span nested inside it (a second
# instrumentor, a framework's own span around a client span): the span id (16 hex digits) of
# the nested span that carries the call's cost; this one is not counted again.
TRIPWIRE_DUPLICATE_OF = "tripwire.duplicate_of"

# --- tripwire: cost -----------------------------------------------------------------------
TRIPWIRE_COST_USD = "tripwire.cost.usd"
TRIPWIRE_COST_SOURCE = "tripwire.cost.source"
TRIPWIRE_COST_UNPRICED = "tripwire.cost.unpriced"
# Why a call is unpriced: its model has no known price, or it reported no usage to price.
TRIPWIRE_COST_UNPRICED_REASON = "tripwire.cost.unpriced_reason"
UNPRICED_REASON_UNKNOWN_MODEL = "unknown_model"
UNPRICED_REASON_UNKNOWN_USAGE = "unknown_usage"
# The tier whose prices were applied: standard, or a price-table variant (priority, flex,
# batch, fast…) selected by the request's terms.
TRIPWIRE_COST_TIER = "tripwire.cost.tier"
COST_SOURCE_PROVIDER = "provider"
COST_SOURCE_PRICE_TABLE = "price_table"
COST_SOURCE_OVERRIDE = "override"

# --- tripwire: per-request rollup (local root span) ---------------------------------------
TRIPWIRE_TRACE_COST_USD = "tripwire.trace.cost.usd"
TRIPWIRE_TRACE_LLM_CALLS = "tripwire.trace.llm_calls"
TRIPWIRE_TRACE_INPUT_TOKENS = "tripwire.trace.input_tokens"
TRIPWIRE_TRACE_OUTPUT_TOKENS = "tripwire.trace.output_tokens"
TRIPWIRE_TRACE_UNPRICED_CALLS = "tripwire.trace.unpriced_calls"
TRIPWIRE_TRACE_USAGE_UNKNOWN_CALLS = "tripwire.trace.usage_unknown_calls"

# --- tripwire: budgets --------------------------------------------------------------------
TRIPWIRE_BUDGET_EXCEEDED = "tripwire.budget.exceeded"
TRIPWIRE_BUDGET_NAME = "tripwire.budget.name"
TRIPWIRE_BUDGET_LIMIT_USD = "tripwire.budget.limit.usd"
TRIPWIRE_BUDGET_LIMIT_TOKENS = "tripwire.budget.limit.tokens"
TRIPWIRE_BUDGET_SPENT_USD = "tripwire.budget.spent.usd"
TRIPWIRE_BUDGET_SPENT_TOKENS = "tripwire.budget.spent.tokens"
TRIPWIRE_BUDGET_SCOPE = "tripwire.budget.scope"
TRIPWIRE_BUDGET_WARNING = "tripwire.budget.warning"
# The budget store could not be reached for this call (its spend is not in the shared budget).
TRIPWIRE_BUDGET_STORE_UNAVAILABLE = "tripwire.budget.store_unavailable"
# A call without a cost under a budget: charged its pre-call estimate (enforce mode), or
# not charged in USD at all (its tokens still are).
TRIPWIRE_BUDGET_ESTIMATED = "tripwire.budget.estimated"
TRIPWIRE_BUDGET_UNPRICED = "tripwire.budget.unpriced"
EVENT_BUDGET_EXCEEDED = "tripwire.budget.exceeded"
EVENT_BUDGET_WARNING = "tripwire.budget.warning"

# --- tripwire: refusals -------------------------------------------------------------------
TRIPWIRE_REFUSAL = "tripwire.refusal"
TRIPWIRE_REFUSAL_SOURCE = "tripwire.refusal.source"
TRIPWIRE_REFUSAL_CATEGORY = "tripwire.refusal.category"
REFUSAL_SOURCE_PROVIDER_FIELD = "provider_field"
REFUSAL_SOURCE_FINISH_REASON = "finish_reason"
REFUSAL_SOURCE_TEXT_PATTERN = "text_pattern"

# --- tripwire: model drift ----------------------------------------------------------------
TRIPWIRE_MODEL_FLOATING_ALIAS = "tripwire.model.floating_alias"
TRIPWIRE_MODEL_CHANGED = "tripwire.model.changed"
TRIPWIRE_MODEL_PREVIOUS = "tripwire.model.previous"
EVENT_MODEL_CHANGED = "tripwire.model.changed"

# --- tripwire: context window -------------------------------------------------------------
TRIPWIRE_CONTEXT_WINDOW_LIMIT = "tripwire.context_window.limit"
TRIPWIRE_CONTEXT_WINDOW_UTILIZATION = "tripwire.context_window.utilization"
TRIPWIRE_CONTEXT_WINDOW_WARNING = "tripwire.context_window.warning"

# --- tripwire: prompt versioning ----------------------------------------------------------
TRIPWIRE_PROMPT_HASH = "tripwire.prompt.hash"
TRIPWIRE_PROMPT_NAME = "tripwire.prompt.name"
TRIPWIRE_PROMPT_VERSION = "tripwire.prompt.version"

# --- tripwire: tool calls the model asked for ---------------------------------------------
TRIPWIRE_TOOL_CALL_NAMES = "tripwire.tool_call.names"
TRIPWIRE_TOOL_CALL_IDS = "tripwire.tool_call.ids"
TRIPWIRE_TOOL_CALL_UNKNOWN_NAMES = "tripwire.tool_call.unknown_names"
TRIPWIRE_TOOL_CALL_INVALID_ARGUMENTS = "tripwire.tool_call.invalid_arguments"

# --- tripwire: tool execution -------------------------------------------------------------
TRIPWIRE_TOOL_ARGUMENTS_HASH = "tripwire.tool.arguments_hash"
TRIPWIRE_TOOL_LOOP = "tripwire.tool.loop"
TRIPWIRE_TOOL_LOOP_COUNT = "tripwire.tool.loop.count"
EVENT_TOOL_LOOP = "tripwire.tool.loop"

# --- tripwire: retrieval ------------------------------------------------------------------
TRIPWIRE_RETRIEVAL_DOCUMENT_IDS = "tripwire.retrieval.document_ids"
TRIPWIRE_RETRIEVAL_SCORES = "tripwire.retrieval.scores"
TRIPWIRE_RETRIEVAL_SCORE_KIND = "tripwire.retrieval.score_kind"
TRIPWIRE_RETRIEVAL_EMPTY = "tripwire.retrieval.empty"
TRIPWIRE_RETRIEVAL_LOW_RELEVANCE = "tripwire.retrieval.low_relevance"
TRIPWIRE_RETRIEVAL_DOCUMENT_COUNT = "tripwire.retrieval.document_count"
SCORE_KIND_DISTANCE = "distance"
SCORE_KIND_SIMILARITY = "similarity"

# --- tripwire: retries --------------------------------------------------------------------
TRIPWIRE_RETRY_COUNT = "tripwire.retry.count"
EVENT_RETRY = "tripwire.retry"
TRIPWIRE_RETRY_ATTEMPT = "tripwire.retry.attempt"

# --- tripwire: routing / feature (low-cardinality metric dimension) -----------------------
TRIPWIRE_FEATURE = "tripwire.feature"
BAGGAGE_FEATURE = "tripwire.feature"

# --- tripwire: metrics --------------------------------------------------------------------
METRIC_COST = "tripwire.cost"
METRIC_REFUSALS = "tripwire.refusals"
METRIC_BUDGET_VIOLATIONS = "tripwire.budget.violations"
METRIC_TOOL_CALL_ERRORS = "tripwire.tool_call.errors"
METRIC_MODEL_CHANGES = "tripwire.model.changes"
METRIC_RETRIEVAL_DOCUMENTS = "tripwire.retrieval.documents"
METRIC_CONTEXT_WINDOW_UTILIZATION = "tripwire.context_window.utilization"
METRIC_RETRIES = "tripwire.retries"
# Calls that could not be priced (unknown model or no usage): never counted as $0.
METRIC_UNPRICED_CALLS = "tripwire.unpriced_calls"
# Agent and workflow runs that ended (processors/agents.py), by gen_ai.agent.name or
# gen_ai.workflow.name, gen_ai.operation.name and error.type.
METRIC_AGENT_RUNS = "tripwire.agent.runs"

TRIPWIRE_TOOL_CALL_ERROR_KIND = "tripwire.tool_call.error.kind"
TOOL_ERROR_UNKNOWN_TOOL = "unknown_tool"
TOOL_ERROR_INVALID_ARGUMENTS = "invalid_arguments"
TOOL_ERROR_EXECUTION = "execution_error"
TOOL_ERROR_LOOP = "loop"

RETRIEVAL_DOCUMENTS_BUCKETS = (0, 1, 2, 3, 5, 8, 10, 20, 50, 100)
UTILIZATION_BUCKETS = (0.1, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.5)

# Every metric name the library emits: dashboards are checked against this set.
EMITTED_METRICS = frozenset(
    {
        METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
        METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
        METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK,
        METRIC_COST,
        METRIC_REFUSALS,
        METRIC_BUDGET_VIOLATIONS,
        METRIC_TOOL_CALL_ERRORS,
        METRIC_MODEL_CHANGES,
        METRIC_RETRIEVAL_DOCUMENTS,
        METRIC_CONTEXT_WINDOW_UTILIZATION,
        METRIC_RETRIES,
        METRIC_AGENT_RUNS,
        METRIC_UNPRICED_CALLS,
    }
)

# --- agents and workflows (docs/agents.md) -------------------------------------------------
# GenAI v1.41 invoke_workflow span (span.gen_ai.invoke_workflow.internal): a coordinated run
# of agents, named ``invoke_workflow {gen_ai.workflow.name}``, kind INTERNAL.
OP_INVOKE_WORKFLOW = "invoke_workflow"
GEN_AI_WORKFLOW_NAME = "gen_ai.workflow.name"
GEN_AI_AGENT_DESCRIPTION = "gen_ai.agent.description"
GEN_AI_AGENT_VERSION = "gen_ai.agent.version"
# Operations whose spans are agent runs (never charged; the processor rolls their subtree up).
AGENT_OPERATIONS = frozenset({OP_INVOKE_AGENT, OP_INVOKE_WORKFLOW})
# A guardrail (input or output) tripped during the agent's turn: on the agent span, counted
# in tripwire.refusals with tripwire.refusal.source = guardrail.
TRIPWIRE_GUARDRAIL_TRIGGERED = "tripwire.guardrail.triggered"
TRIPWIRE_GUARDRAIL_NAME = "tripwire.guardrail.name"
REFUSAL_SOURCE_GUARDRAIL = "guardrail"
# One agent handing the conversation to another: an event on the handing-off agent's span.
EVENT_AGENT_HANDOFF = "tripwire.agent.handoff"
TRIPWIRE_AGENT_HANDOFF_FROM = "tripwire.agent.handoff.from"
TRIPWIRE_AGENT_HANDOFF_TO = "tripwire.agent.handoff.to"
# Rollup of an agent or workflow span's subtree (set by the processor as the span ends).
TRIPWIRE_AGENT_COST_USD = "tripwire.agent.cost.usd"
TRIPWIRE_AGENT_LLM_CALLS = "tripwire.agent.llm_calls"
TRIPWIRE_AGENT_TOOL_CALLS = "tripwire.agent.tool_calls"
TRIPWIRE_AGENT_INPUT_TOKENS = "tripwire.agent.input_tokens"
TRIPWIRE_AGENT_OUTPUT_TOKENS = "tripwire.agent.output_tokens"
TRIPWIRE_AGENT_UNPRICED_CALLS = "tripwire.agent.unpriced_calls"
TRIPWIRE_AGENT_STEPS = "tripwire.agent.steps"
TRIPWIRE_AGENT_MAX_STEPS_EXCEEDED = "tripwire.agent.max_steps_exceeded"
# Tool loops within one agent run (processors/tool_loop.py): on an execute_tool span, how many
# times this tool ran with these arguments in its (innermost) agent run, set once that reaches
# TRIPWIRE_TOOL_LOOP_THRESHOLD; on the agent span, that a loop happened in its run and the
# highest such count (nested runs included).
TRIPWIRE_TOOL_LOOP_RUN_COUNT = "tripwire.tool.loop.run_count"
TRIPWIRE_AGENT_TOOL_LOOP = "tripwire.agent.tool_loop"
TRIPWIRE_AGENT_TOOL_LOOP_COUNT = "tripwire.agent.tool_loop.count"
# LangGraph runs (instrumentation/langgraph): the supersteps the graph ran (the unit of its
# recursion limit; tripwire.agent.steps stays the processor's llm_calls + tool_calls), and a
# run stopped by its recursion limit (GraphRecursionError), with the limit when it was set.
TRIPWIRE_AGENT_SUPERSTEPS = "tripwire.agent.supersteps"
TRIPWIRE_AGENT_RECURSION_LIMIT_REACHED = "tripwire.agent.recursion_limit_reached"
TRIPWIRE_AGENT_RECURSION_LIMIT = "tripwire.agent.recursion_limit"
