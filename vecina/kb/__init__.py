"""Knowledge base: the content editors maintain in `kb/` (schema, validation, loading, lookups)."""
