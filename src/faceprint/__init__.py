"""faceprint: FaceNet face embeddings (Schroff et al., CVPR 2015) that train, evaluate and serve correctly.

    model = faceprint.load()                             # the shipped default, or faceprint.load("best.pt")
    faceprint.verify(model, "a.jpg", "b.jpg")            # distance, threshold, same
    faceprint.identify(model, "people.db", ["x.jpg"])    # a name or "unknown" per face
    faceprint.cluster(model, "folder/")                  # a label per face
    faceprint.embed(model, ["a.jpg", "b.jpg"])           # (faces, 128) unit vectors, with boxes
"""

__version__ = "0.1.0"

from faceprint.api import cluster, embed, identify, load, open_gallery, verify
from faceprint.errors import FaceprintError

__all__ = ["FaceprintError", "__version__", "cluster", "embed", "identify", "load", "open_gallery", "verify"]
