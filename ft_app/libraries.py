"""Import transformers and datasets once, completely, before the server's handlers use them.

The web server runs handlers in several threads at once (the data preview, the Train tab's plan, Compare).
When one thread imported transformers for the first time while another hashed a dataset, datasets found a
half-imported transformers in `sys.modules` and failed ("module 'transformers' has no attribute
'PreTrainedTokenizerBase'"): the upload showed that as a broken CSV. Every first use goes through here, so
one thread imports and the others wait for it.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_loaded = False


def ensure_loaded() -> None:
    """Import datasets and transformers (and the names other libraries look up in it) once; others wait."""
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        import datasets  # noqa: F401 - imported for its side effect: fully initialised before any thread uses it
        import transformers

        # transformers resolves its names lazily: resolve the ones datasets' pickler and our checks look up now.
        for name in ("PreTrainedTokenizerBase", "AutoConfig", "AutoTokenizer", "PreTrainedModel"):
            getattr(transformers, name)
        _loaded = True
