"""Placeholder: a helper is writing this family now."""
