"""Distances between embeddings; every loss, miner and threshold is expressed in one of these units."""

from faceprint.distances.distance import (
    Distance,
    L2Distance,
    SquaredL2Distance,
    get_distance,
)

__all__ = ["Distance", "L2Distance", "SquaredL2Distance", "get_distance"]
