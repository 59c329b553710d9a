"""Composite signals over the features: documented formulas with a value in a defined range,
their component values, a confidence that drops with missing inputs, and data freshness.

Modules: ``base`` (components, combination, confidence), ``definitions`` (the formulas),
``view`` (signals at the newest features, cross-venue inputs, the aggregated view),
``evaluate`` (event study over stored history). Formulas and decisions: ``docs/signals.md``.
"""
