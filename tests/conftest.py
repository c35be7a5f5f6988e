"""Shared test configuration.

The ``tripwire`` pytest plugin (fixtures ``span_exporter``, ``tracer_provider``,
``metric_reader``, ``meter_provider``, ``fake_openai``) is loaded through its ``pytest11``
entry point; load it explicitly only when entry-point auto-loading is disabled, since
registering it twice is an error.
"""

import os

if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
    pytest_plugins = ["tripwire.testing.pytest_plugin"]
