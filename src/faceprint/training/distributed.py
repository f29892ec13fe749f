"""Mining across processes: gather every process's embeddings so that negatives come from all devices' batches.

Each process keeps its own embeddings as anchors and mines against the gathered set:

    ref, ref_labels, self_index = gather_embeddings(emb, labels)
    triplets = miner(emb, labels, ref, ref_labels, self_index=self_index)
    loss = loss_fn(emb, triplets, ref_embeddings=ref)

The gather is autograd-aware (`torch.distributed.nn.functional.all_gather`): a row of another process used as a
positive or negative sends its gradient back to that process. Summed over processes (DistributedDataParallel
averages, i.e. sums and divides by the world size), the update is that of one process mining the concatenated
batch with the "sum" reduction, split by anchors.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def _gather_with_grad(tensor: torch.Tensor) -> list[torch.Tensor]:
    from torch.distributed.nn.functional import all_gather

    return list(all_gather(tensor))


def _gather(tensor: torch.Tensor) -> list[torch.Tensor]:
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return parts


def gather_embeddings(
    embeddings: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(all embeddings, all labels, index of each local row in the gathered set). Batches must be equal-sized."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return embeddings, labels, torch.arange(len(labels), device=labels.device)
    rank, n = dist.get_rank(), len(labels)
    emb = torch.cat(_gather_with_grad(embeddings))
    return emb, torch.cat(_gather(labels)), torch.arange(rank * n, (rank + 1) * n, device=labels.device)
