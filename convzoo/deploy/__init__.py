"""Deployment and compression: folding, export to ONNX and torch.export, int8 quantisation, weight codebooks,
structured and unstructured pruning, and a benchmark of every inference path."""
