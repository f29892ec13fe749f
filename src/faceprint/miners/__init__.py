"""Triplet selection: each miner turns a batch of embeddings and labels into index triplets (a, p, n)."""

from faceprint.miners.base import Miner, Triplets
from faceprint.miners.batch_all_miner import BatchAllMiner
from faceprint.miners.batch_hard_miner import BatchHardMiner
from faceprint.miners.semi_hard_miner import SemiHardMiner

__all__ = ["Miner", "Triplets", "SemiHardMiner", "BatchHardMiner", "BatchAllMiner", "get_miner"]


def get_miner(name: str, **kwargs: object) -> Miner:
    """Build a miner from the name used in training configs."""
    miners: dict[str, type[Miner]] = {
        "semi_hard": SemiHardMiner,
        "batch_hard": BatchHardMiner,
        "batch_all": BatchAllMiner,
    }
    if name not in miners:
        raise ValueError(f"unknown miner {name!r}; choose one of {sorted(miners)}")
    return miners[name](**kwargs)  # type: ignore[arg-type]
