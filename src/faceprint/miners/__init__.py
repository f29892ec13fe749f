"""Triplet selection: each miner turns a batch of embeddings and labels into index triplets (a, p, n)."""

from faceprint.errors import InputError
from faceprint.miners.base import Miner, Triplets
from faceprint.miners.batch_all_miner import BatchAllMiner
from faceprint.miners.batch_hard_miner import BatchHardMiner
from faceprint.miners.semi_hard_miner import SemiHardMiner

__all__ = ["MINERS", "BatchAllMiner", "BatchHardMiner", "Miner", "SemiHardMiner", "Triplets", "get_miner"]

MINERS: dict[str, type[Miner]] = {  # the names training configs use
    "semi_hard": SemiHardMiner,
    "batch_hard": BatchHardMiner,
    "batch_all": BatchAllMiner,
}


def get_miner(name: str, **kwargs: object) -> Miner:
    """Build a miner from the name used in training configs."""
    if name not in MINERS:
        raise InputError(f"unknown miner {name!r}; choose one of {sorted(MINERS)}")
    return MINERS[name](**kwargs)  # type: ignore[arg-type]
