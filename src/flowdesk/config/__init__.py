"""Built-in default configuration (YAML)."""
