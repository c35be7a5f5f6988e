"""The scripted fake OpenAI server behind the offline demo.

Each customer question meets one of the quiet failures: a tool call then a streamed answer,
a refusal, and a 429 that the SDK retries before answering.
"""

from __future__ import annotations

from tripwire.testing import FakeOpenAIServer, chat_reply, rate_limited


def start_scripted_server() -> FakeOpenAIServer:
    server = FakeOpenAIServer().start()
    server.enqueue(
        # 1. "Where is my order 1234?": the model asks for the tool, then streams the answer.
        chat_reply(tool_calls=[("call_order_1", "lookup_order", '{"order_id": "1234"}')],
                   usage=(182, 19)),
        chat_reply("Good news: order 1234 shipped with DHL and should arrive on 27 November.",
                   usage=(231, 17)),
        # 2. A question the model will not answer: a refusal, not an error.
        chat_reply(refusal="I'm sorry, I can't share personal information about employees.",
                   usage=(175, 12)),
        # 3. The provider is busy: 429 first, the SDK retries, then an answer.
        rate_limited(retry_after_ms=50),
        chat_reply("Yes, we ship to Norway; delivery takes 3 to 5 working days.",
                   usage=(176, 14)),
    )
    return server
