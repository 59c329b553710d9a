"""The analytics crew: forecasting and regime analysts."""
