"""Token estimates for streams that carry no usage. Never touches the network.

Order: tiktoken when it is installed and its cache already holds the encoding file (so it
cannot try to download it), then the encodings bundled in ``bpe-openai`` (same files,
offline; the ``tripwire-otel[tokens]`` extra), then a characters/4 estimate. The method used
is recorded in ``tripwire.usage.estimate_method``; either tokenizer missing is expected (both
are optional, ``bpe-openai`` alone is 78 MB) and not logged as a failure.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from functools import lru_cache

from tripwire._core.guard import log_failure

_ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}
METHOD_TIKTOKEN = "tiktoken"
METHOD_BPE_OPENAI = "bpe_openai"
METHOD_CHARS = "chars_div_4"

Counter = Callable[[str], int]
_lock = threading.Lock()
_logger = logging.getLogger(__name__)


def encoding_name_for_model(model: str | None) -> str:
    name = (model or "").lower()
    # gpt-3.5 / gpt-4 (not 4o / 4.1 / 4.5) and the older embeddings use cl100k_base.
    if name.startswith(("gpt-3.5", "text-embedding", "davinci", "babbage")) or (
        name.startswith("gpt-4") and not name.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5"))
    ):
        return "cl100k_base"
    return "o200k_base"


def _tiktoken_cache_has(encoding: str) -> bool:
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if cache_dir == "":
        return False
    if cache_dir is None:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    key = hashlib.sha1(_ENCODING_URLS[encoding].encode()).hexdigest()
    return os.path.exists(os.path.join(cache_dir, key))


@lru_cache(maxsize=4)
def counter_for(encoding: str) -> tuple[Counter, str]:
    """A token counting function for ``encoding`` and the name of the method behind it."""
    with _lock:
        if _tiktoken_cache_has(encoding):
            try:
                import tiktoken

                enc = tiktoken.get_encoding(encoding)
                return (lambda text: len(enc.encode_ordinary(text))), METHOD_TIKTOKEN
            except ImportError:
                pass  # a tiktoken cache left by another program, without tiktoken here
            except Exception:
                log_failure("tiktoken encoding load")
        try:
            import bpe_openai
        except ImportError:
            _logger.debug("tripwire: bpe-openai not installed (extra tripwire-otel[tokens]); "
                          "token estimates use characters/4")
        else:
            try:
                bpe = bpe_openai.get_encoding(encoding)
                return (lambda text: len(bpe.encode_ordinary(text))), METHOD_BPE_OPENAI
            except Exception:
                log_failure("bpe-openai encoding load")
    return (lambda text: (len(text) + 3) // 4), METHOD_CHARS


# Longer texts are counted on their first this-many characters and extrapolated: exact
# counting costs ~30 ms for 450 KB, on the application's thread.
MAX_COUNTED_CHARS = 65_536
EXTRAPOLATED = "+extrapolated"


def count_tokens(text: str, model: str | None) -> tuple[int, str]:
    """Estimated token count of ``text`` for ``model`` and the method used (with
    ``+extrapolated`` when only a prefix was counted)."""
    if not text:
        return 0, counter_for(encoding_name_for_model(model))[1]
    counter, method = counter_for(encoding_name_for_model(model))
    try:
        if len(text) > MAX_COUNTED_CHARS:
            sample = counter(text[:MAX_COUNTED_CHARS])
            return round(sample * len(text) / MAX_COUNTED_CHARS), method + EXTRAPOLATED
        return counter(text), method
    except Exception:
        log_failure("token count")
        return (len(text) + 3) // 4, METHOD_CHARS
