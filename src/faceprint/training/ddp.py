"""Training on several processes with torch.distributed (torchrun, DistributedDataParallel).

The global batch stays P x K: every process samples the same batch (same seed), embeds its contiguous share, and
the shares are gathered with gradients (`all_gather` from torch.distributed.nn), so every process mines and computes
the loss on the whole batch, identically. Backward then hands each process W times its share's gradient (each of the
W identical losses sends it one), and DDP's average over processes divides by W: the update equals one process's on
the whole batch, for any miner, reduction or teacher term. Batch norm must see the whole batch too: PyTorch's
SyncBatchNorm runs on GPUs only, so `SyncBatchNorm` here sums the statistics over processes on any device.
"""

from __future__ import annotations

import os
import warnings
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

# torch marks these as deprecated for their successors in torch.distributed._functional_collectives, which are
# private; the public autograd-aware collectives are the ones to use until those are public
warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.\w+ is deprecated")
warnings.filterwarnings("ignore", message=r"`broadcast_buffers` is deprecated")

TIMEOUT = timedelta(minutes=30)  # a rank waits this long for the others (rank 0 validating) before the job ends


def init_from_env(backend: str = "auto") -> tuple[int, int]:
    """(rank, world size), starting the process group when torchrun set WORLD_SIZE > 1; (0, 1) otherwise.
    backend "auto": NCCL with GPUs, gloo on CPUs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        if backend == "auto":
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, timeout=TIMEOUT)
    return dist.get_rank(), dist.get_world_size()


def local_threads() -> int:
    """CPU threads for one of the processes on this machine: the cores shared out, at least one."""
    return max(1, len(os.sched_getaffinity(0)) // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def gather(x: torch.Tensor) -> torch.Tensor:
    """Every process's rows, in rank order, with gradients flowing back to the process that made them."""
    from torch.distributed.nn.functional import all_gather

    return torch.cat(list(all_gather(x)))


def broadcast_flag(value: bool) -> bool:
    """Rank 0's decision, on every rank (stopping early must happen everywhere at the same step)."""
    t = torch.tensor([int(value)])
    dist.broadcast(t, 0)
    return bool(t.item())


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics cover the batches of all processes (sums all-reduced with autograd),
    on CPU as on GPU. Parameter and buffer names are batch norm's: checkpoints load either way."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-d input, got {x.dim()}-d")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        xf = x.float()
        dims = [0, *range(2, x.dim())]
        c = x.shape[1]
        count = xf.new_tensor([x.numel() // c])
        total = all_reduce(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]))
        n = total[-1]
        mean = total[:c] / n
        var = (total[c : 2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1).clamp_min(1), alpha=m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype) if not torch.is_autocast_enabled() else y


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Every BatchNorm1d/2d of `module` replaced by SyncBatchNorm, weights and running statistics kept."""
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        new = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats)
        new.load_state_dict(module.state_dict())
        return new
    for name, child in module.named_children():
        setattr(module, name, convert_sync_batchnorm(child))
    return module
