"""HybridSN (placeholder: being written)."""
