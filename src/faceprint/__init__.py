"""faceprint: FaceNet face embeddings (Schroff et al., CVPR 2015) that train, evaluate and serve correctly.

    model = faceprint.load("best.pt")          # or faceprint.load() for the shipped default
    emb = model.embed(["a.jpg", "b.jpg"])      # (2, 128) unit vectors
    faceprint.verify(model, "a.jpg", "b.jpg")  # distance, threshold, same
"""

__version__ = "0.1.0"

from faceprint.api import load  # noqa: E402

__all__ = ["__version__", "load", "verify"]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # imported on first use: `faceprint.load("model.onnx")` then runs without PyTorch
    if name == "verify":
        from faceprint.applications.verification import verify

        return verify
    raise AttributeError(f"module 'faceprint' has no attribute {name!r}")
