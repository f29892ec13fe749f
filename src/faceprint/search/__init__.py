"""k-nearest-neighbour search over embeddings: exact (one matrix product per block) and FAISS IVF for very large
galleries. Both rank by squared L2 and report in the distance they were given."""

from faceprint.search.index import (
    ExactIndex,
    FaissIndex,
    SearchIndex,
    faiss_available,
    make_index,
)

__all__ = ["ExactIndex", "FaissIndex", "SearchIndex", "faiss_available", "make_index"]
