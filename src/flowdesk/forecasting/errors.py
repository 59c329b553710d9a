"""Errors raised by the forecasting package.

The tool layer turns them into :class:`~flowdesk.tools.registry.ToolError`; the CLI prints them.
"""

from __future__ import annotations


class ForecastError(ValueError):
    """A forecast could not be made: bad argument, missing or too little data. The message says which."""


class ModelUnavailable(ForecastError):
    """The model exists in the catalog but cannot run on this installation (the message says why)."""
