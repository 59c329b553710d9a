"""Quote-flow analysis: top-of-book quotes (from Redis or the live crypto collector) turned
into window metrics, patterns, behaviour flags and significant price levels.

Pure parts (no I/O): :mod:`.quotes` (the quote arrays and the broker's JSON member format),
:mod:`.thresholds`, :mod:`.metrics`, :mod:`.patterns`, :mod:`.levels`, :mod:`.behaviors`,
:mod:`.analysis` and :mod:`.report`. Moving parts: :mod:`.cache` (incremental reads),
:mod:`.processor` (the background cycle), :mod:`.publisher` (crypto best bid/ask into Redis)
and :mod:`.service` (the ``flowdesk serve`` hook). See ``docs/quoteflow.md``.
"""
