"""DnCNN (placeholder: being written)."""
