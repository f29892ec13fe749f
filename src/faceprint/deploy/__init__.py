"""Deployment: a model as an ONNX file with its preprocessing beside it, and an embedder that runs such a file in
onnxruntime without PyTorch (the core)."""
