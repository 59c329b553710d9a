"""Per-stream features computed incrementally on the live stream and, by the same code, over
stored history; stored in the ``features`` table (long format) by the live service.

Modules: ``config`` (settings section), ``catalog`` (every feature: group, unit, window,
inputs, formula), ``rolling`` (per-interval ring of sums), ``book`` (book samples and book
features), ``vpin`` (volume-bucket VPIN), ``engine`` (the per-symbol engine), ``history``
(replaying stored tables through the engine), ``store`` (reading the ``features`` table),
``tables`` (the canonical tables as query targets), ``service`` (the ``flowdesk serve`` hook).
Formulas and decisions: ``docs/features.md``. This package's import is kept light on purpose:
:mod:`flowdesk.settings` imports :mod:`.config`.
"""
