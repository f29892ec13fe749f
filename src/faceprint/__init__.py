"""faceprint: FaceNet face embeddings (Schroff et al., CVPR 2015) that train, evaluate and serve correctly."""

__version__ = "0.1.0"
