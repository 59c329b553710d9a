"""The intelligence crew: order-flow analyst, risk assessor, market researcher."""
