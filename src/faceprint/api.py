"""The Python API: each job in one call, on the same `Pipeline` the command line uses.

    model = faceprint.load()                                   # the shipped default, or a file
    faceprint.embed(model, ["a.jpg", "b.jpg"])                 # EmbeddingSet: a row per face found
    faceprint.verify(model, "a.jpg", "b.jpg")                  # Comparison(distance, threshold, same, ...)
    faceprint.identify(model, "people.db", ["who.jpg"])        # Identified: per face, a name or "unknown"
    faceprint.cluster(model, "holiday/")                       # Clustering: a label per face

Photos are detected and aligned as the model expects (input="photos"); pass input="crops" for images that already
are the model's face crops, or "auto" to let a folder's alignment record decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceprint.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from faceprint.applications.clustering import ClusterResult
    from faceprint.applications.identification import Gallery, Identification
    from faceprint.embeddings import EmbeddingSet
    from faceprint.models.interface import Embedder
    from faceprint.pipeline import Comparison

DEFAULT_MODEL = Path(__file__).resolve().parent / "weights" / "default.pt"
# Models shipped beside the default, by name: `--model dlib` (dlib's ResNet, the default until faceprint 0.2).
NAMED_MODELS = {"dlib": DEFAULT_MODEL.with_name("dlib.pt")}
Images = Sequence["str | Path | np.ndarray"] | str | Path  # files or arrays, or one folder (or file)


def load(path: str | Path | None = None) -> Embedder:
    """A model file, the default model shipped inside the package, or another shipped model by name ("dlib": dlib's
    ResNet with faceprint's thresholds), in onnxruntime (PyTorch is never imported). A `.onnx` file written by
    `faceprint export` too. A model file of faceprint's first format (PyTorch's) needs PyTorch (faceprint[train]):
    then it is read into a PyTorch network. A file in the working folder named like a shipped model wins over it."""
    from faceprint.models.modelfile import LegacyModelFileError, NoDefaultModelError
    from faceprint.models.onnx_model import OnnxModel

    if path is not None and str(path) in NAMED_MODELS and not Path(path).is_file():
        path = NAMED_MODELS[str(path)]
    if path is not None and str(path).endswith(".onnx"):
        from faceprint.deploy.runtime import OnnxEmbedder

        return OnnxEmbedder(path)
    if path is None:
        if not DEFAULT_MODEL.exists():
            raise NoDefaultModelError("no default model is shipped with this version of faceprint yet: give a model "
                                      "file (one written by training)")
        path = DEFAULT_MODEL
    try:
        return OnnxModel.from_file(path)
    except LegacyModelFileError as legacy:
        try:
            from faceprint.models.io import load_model
        except ImportError:
            raise legacy from None
        return load_model(path)


def _pipeline(model: Embedder, **options: Any):  # type: ignore[no-untyped-def]
    from faceprint.pipeline import Pipeline

    return Pipeline(model, **options)


def embed(model: Embedder, images: Images, *, input: str = "photos", select: str = "best",
          **options: Any) -> EmbeddingSet:
    """Embeddings of photos (a row per selected face) or crops; a folder gives identities from its sub-folders.
    Unreadable and faceless images are listed in `.skipped`. Options: see `Pipeline`."""
    pipe = _pipeline(model, input=input, select=select, **options)
    if isinstance(images, (str, Path)):
        return pipe.embed_folder(images)
    return pipe.embed(list(images))


def verify(model: Embedder, a: str | Path | np.ndarray, b: str | Path | np.ndarray,
           threshold: float | None = None, *, input: str = "photos", select: str = "best",
           **options: Any) -> Comparison:
    """Same person? The distance between the best face of each photo, against `threshold` (default: the model's)."""
    return _pipeline(model, input=input, select=select, **options).verify(a, b, threshold)


@dataclass
class IdentifiedFace:
    image: str
    box: list[float] | None  # where the face is in its photo (None for crops)
    identity: str  # a gallery identity, or "unknown"
    distance: float  # to the nearest gallery face
    threshold: float
    candidates: list[dict[str, Any]] = field(default_factory=list)  # top-k: identity, distance

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Identified:
    faces: list[IdentifiedFace]
    skipped: list[str]  # "image: reason" for images without a usable face
    threshold: float
    warning: str = ""


def identify(model: Embedder, gallery: str | Path | Gallery, images: Images, threshold: float | None = None,
             *, k: int = 5, vote: int = 1, index: str = "auto", input: str = "photos", select: str = "all",
             **options: Any) -> Identified:
    """Who is in these photos? Every face against the gallery: its nearest identities, and the decision (an
    identity, or "unknown" unless the nearest face is under the open-set threshold for the gallery's size)."""
    from faceprint.applications.identification import Gallery, gallery_index
    from faceprint.thresholds import identification_threshold

    own = not isinstance(gallery, Gallery)
    g = open_gallery(gallery, model, create=False) if own else gallery
    try:
        t, warning = identification_threshold(model, threshold, len(g.identities()))
        es = embed(model, images, input=input, select=select, **options)
        emb, _, _ = g.matrix()
        results = g.identify(es.embeddings, t, k=k, vote=vote, index=gallery_index(g, index) if len(emb) else None)
    finally:
        if own:
            g.close()
    faces = [_identified(path, box, r) for path, box, r in zip(es.paths, es.boxes, results)]
    return Identified(faces, list(es.skipped), t, warning)


def _identified(path: str, box: np.ndarray, r: Identification) -> IdentifiedFace:
    from faceprint.pipeline import _box

    return IdentifiedFace(path, _box(box), r.decision, r.distance, r.threshold,
                          [{"identity": c.identity, "distance": c.distance} for c in r.candidates])


def open_gallery(location: str | Path, model: Embedder, create: bool = True, keep_crops: bool = True) -> Gallery:
    """A gallery for this model (made if `create`): a SQLite file, or a PostgreSQL database given as
    postgresql://user@host/db (shared by processes on several hosts). One made by another model is refused (with
    how to migrate it). A gallery made with keep_crops=False never stores face crops (and cannot be migrated
    without the original photos). A photo library (`faceprint library scan`) opens as one."""
    from faceprint.applications.library.store import open_gallery_or_library

    return open_gallery_or_library(location, model.fingerprint, model.config.embedding_size, model.distance,
                                   create=create, keep_crops=keep_crops)


@dataclass
class Clustering:
    result: ClusterResult
    embeddings: EmbeddingSet  # paths, boxes and embeddings of the faces, in the order of result.labels
    threshold: float | None
    warning: str = ""


def cluster(model: Embedder, images: Images | EmbeddingSet, *, method: str = "agglomerative",
            threshold: float | None = None, k: int | None = None, min_size: int = 1, input: str = "photos",
            select: str = "all", same_photo: bool = False, **options: Any) -> Clustering:
    """Group faces by person: average linkage cut at the model's clustering threshold (any number of faces: past
    20,000 without the N x N matrix), or k-means (k given, or chosen by silhouette). Two faces of one photo (or one
    video frame) are never put in one cluster unless `same_photo` allows it."""
    from faceprint.applications.clustering import cluster as run
    from faceprint.embeddings import EmbeddingSet
    from faceprint.thresholds import cluster_threshold

    if isinstance(images, EmbeddingSet):
        images.check_model(model)
        es = images
    else:
        es = embed(model, images, input=input, select=select, **options)
    if not len(es.paths):
        raise InputError("no face to cluster" + (f": {es.skipped[0]}" if es.skipped else ""))
    t, warning = cluster_threshold(model, threshold) if method == "agglomerative" else (None, "")
    res = run(es.embeddings, method, threshold=t, k=k, distance=model.distance, min_size=min_size,
              groups=None if same_photo else es.paths)
    return Clustering(res, es, t, warning)
