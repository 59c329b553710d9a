"""Order-flow analytics: VWAP, volume and TPO profiles, session levels, footprint bars,
delta/CVD with divergences, diagonal and stacked imbalances, depth delta, liquidations,
funding and open interest.

Every indicator is a pure function over a DuckDB connection (any relation with the canonical
columns: the stored tables or a registered live batch) plus parameters, or over numpy arrays
loaded from one; the tools in :mod:`flowdesk.tools.orderflow` only validate arguments, call
these functions and shape results. Decisions (session rules, tie rules, TPO rules, divergence
and "still holds") are written down in ``docs/orderflow.md``.

Modules: ``common`` (errors, times, the integer price grid), ``store`` (reading trades and
lookups), ``windows`` (request windows, CVD anchors), ``sessions``, ``vwap``, ``profile``,
``tpo``, ``levels``, ``footprint``, ``imbalance``, ``delta``, ``metrics`` (per-bar results),
``depth``, ``derivs``.
"""
