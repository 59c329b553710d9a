"""The data_ops crew: collector, validator, cleaner, schema manager."""
