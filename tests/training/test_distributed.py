"""Mining over embeddings gathered from several processes, with the collectives faked in one process."""

import pytest
import torch

from faceprint.losses import TripletLoss
from faceprint.miners import BatchHardMiner, SemiHardMiner
from faceprint.training import distributed


@pytest.mark.parametrize("miner", [SemiHardMiner(0.3), BatchHardMiner(0.3)])
def test_split_by_anchors_equals_one_process_on_the_concatenated_batch(monkeypatch, miner):
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(48, 16, generator=g, dtype=torch.float64)
    labels = torch.arange(6).repeat_interleave(8)[torch.randperm(48, generator=g)]
    loss_fn = TripletLoss(0.3, reduction="sum")

    def embed(x):
        return torch.nn.functional.normalize(x, dim=1)

    # One process, the whole batch.
    whole = x0.clone().requires_grad_(True)
    e = embed(whole)
    loss_whole = loss_fn(e, miner(e, labels))
    loss_whole.backward()
    # Two "processes" of 24 rows. The autograd-aware gather is faked by concatenating graph-connected parts, as
    # torch.distributed.nn's all_gather provides them; the summed losses are what DDP's gradient averaging adds up.
    x = x0.clone().requires_grad_(True)
    e = embed(x)
    parts = [e[:24], e[24:]]
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(distributed, "_gather_with_grad", lambda t: parts)
    monkeypatch.setattr(distributed, "_gather", lambda t: [labels[:24], labels[24:]])
    total = 0.0
    for rank in range(2):
        monkeypatch.setattr(distributed.dist, "get_rank", lambda r=rank: r)
        local, local_labels = parts[rank], labels[rank * 24 : (rank + 1) * 24]
        ref, ref_labels, self_index = distributed.gather_embeddings(local, local_labels)
        assert torch.equal(ref_labels, labels) and self_index.tolist() == list(range(rank * 24, rank * 24 + 24))
        total = total + loss_fn(local, miner(local, local_labels, ref, ref_labels, self_index=self_index),
                                ref_embeddings=ref)
    total.backward()
    assert total.item() == pytest.approx(loss_whole.item(), rel=1e-12)
    torch.testing.assert_close(x.grad, whole.grad, rtol=1e-10, atol=1e-12)


def test_single_process_is_a_no_op():
    x, labels = torch.randn(5, 3), torch.arange(5)
    ref, ref_labels, idx = distributed.gather_embeddings(x, labels)
    assert ref is x and ref_labels is labels and idx.tolist() == [0, 1, 2, 3, 4]


def _worker(rank: int, port: int, x: torch.Tensor, labels: torch.Tensor, w0: torch.Tensor, out: dict) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        w = w0.clone().requires_grad_(True)
        local = torch.nn.functional.normalize(x[rank * 24 : (rank + 1) * 24] @ w, dim=1)
        local_labels = labels[rank * 24 : (rank + 1) * 24]
        ref, ref_labels, self_index = distributed.gather_embeddings(local, local_labels)
        t = SemiHardMiner(0.3)(local, local_labels, ref, ref_labels, self_index=self_index)
        TripletLoss(0.3, reduction="sum")(local, t, ref_embeddings=ref).backward()
        dist.all_reduce(w.grad)  # what DDP does (before dividing by the world size)
        out[rank] = w.grad.clone()
    finally:
        dist.destroy_process_group()


def test_two_real_processes_over_gloo(tmp_path):
    """Two CPU processes with torch.distributed (gloo on loopback) update like one process on the whole batch."""
    import socket

    import torch.multiprocessing as mp

    g = torch.Generator().manual_seed(1)
    x = torch.randn(48, 16, generator=g, dtype=torch.float64)
    labels = torch.arange(6).repeat_interleave(8)[torch.randperm(48, generator=g)]
    w0 = torch.randn(16, 8, generator=g, dtype=torch.float64)
    w = w0.clone().requires_grad_(True)
    e = torch.nn.functional.normalize(x @ w, dim=1)
    TripletLoss(0.3, reduction="sum")(e, SemiHardMiner(0.3)(e, labels)).backward()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    manager = mp.Manager()
    out = manager.dict()
    mp.spawn(_worker, args=(port, x, labels, w0, out), nprocs=2, join=True)
    torch.testing.assert_close(out[0], w.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(out[1], w.grad, rtol=1e-9, atol=1e-12)
