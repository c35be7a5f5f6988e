"""Provider wire formats that reach tripwire through more than one SDK.

The same JSON is sent and received whether the application talks to the provider through
its own SDK or through a cloud platform (Anthropic Messages through ``anthropic`` and through
Bedrock's ``InvokeModel``). Each format is mapped onto the core once, here, reading SDK
objects and plain dicts alike; the instrumentors keep only what is particular to their SDK.
Importing this package never imports a provider SDK.
"""
