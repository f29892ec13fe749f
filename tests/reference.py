"""Plain-Python references the tests compare the fast code with: triple loops, numpy sums."""

from __future__ import annotations

import numpy as np


def positives(labels, ref_labels, self_index):
    return [
        (a, p)
        for a in range(len(labels))
        for p in range(len(ref_labels))
        if labels[a] == ref_labels[p] and (self_index is None or self_index[a] != p)
    ]


def negatives(labels, ref_labels, a):
    return [n for n in range(len(ref_labels)) if ref_labels[n] != labels[a]]


def semi_hard_candidates(D, labels, ref_labels, a, p, margin):
    """Negatives strictly inside (d(a,p), d(a,p) + margin), with float32 arithmetic like the fast code."""
    dap = np.float32(D[a, p])
    upper = np.float32(dap + np.float32(margin))
    return [n for n in negatives(labels, ref_labels, a) if dap < D[a, n] < upper]


def brute_semi_hard(D, labels, ref_labels, margin, fallback="drop", self_index=None):
    """The closest semi-hard negative per pair (lowest index among ties), then the fallback rule."""
    out = []
    for a, p in positives(labels, ref_labels, self_index):
        dap = D[a, p]
        negs = negatives(labels, ref_labels, a)
        semi = semi_hard_candidates(D, labels, ref_labels, a, p, margin)
        key = lambda n: (D[a, n], n)  # noqa: E731
        if semi:
            out.append((a, p, min(semi, key=key)))
            continue
        farther = [n for n in negs if D[a, n] > dap]
        if fallback in ("closest_farther", "tf_addons") and farther:
            out.append((a, p, min(farther, key=key)))
        elif fallback == "hardest" and negs:
            out.append((a, p, min(negs, key=key)))
        elif fallback == "tf_addons" and negs:
            out.append((a, p, min(negs, key=lambda n: (-D[a, n], n))))
    return sorted(out)


def brute_batch_hard(D, labels, ref_labels, self_index=None):
    out = []
    for a in range(len(labels)):
        pos = [p for (aa, p) in positives(labels, ref_labels, self_index) if aa == a]
        negs = negatives(labels, ref_labels, a)
        if pos and negs:
            out.append((a, min(pos, key=lambda p: (-D[a, p], p)), min(negs, key=lambda n: (D[a, n], n))))
    return sorted(out)


def brute_batch_all(D, labels, ref_labels, margin, self_index=None):
    return sorted(
        (a, p, n)
        for a, p in positives(labels, ref_labels, self_index)
        for n in negatives(labels, ref_labels, a)
        if np.float32(np.float32(D[a, p]) - np.float32(D[a, n])) + np.float32(margin) > 0
    )


def numpy_triplet_loss(x, y, triplets, margin, distance, reduction):
    """Loss and its gradients with respect to x (anchors) and y (reference), written out by hand."""
    gx, gy = np.zeros_like(x, dtype=np.float64), np.zeros_like(y, dtype=np.float64)
    losses, grads = [], []
    for a, p, n in triplets:
        dp, dn = x[a] - y[p], x[a] - y[n]
        if distance == "squared_l2":
            d_ap, d_an = dp @ dp, dn @ dn
            g_ap, g_an = 2 * dp, 2 * dn  # d/dx_a of each distance
        else:
            d_ap, d_an = np.sqrt(dp @ dp), np.sqrt(dn @ dn)
            g_ap, g_an = dp / d_ap, dn / d_an
        l = d_ap - d_an + margin
        losses.append(max(l, 0.0))
        grads.append((a, p, n, g_ap, g_an, l > 0))
    losses = np.array(losses)
    n_active = int((losses > 0).sum())
    scale = {"sum": 1.0, "mean": 1.0 / len(losses), "mean_active": 1.0 / max(n_active, 1)}[reduction]
    for a, p, n, g_ap, g_an, active in grads:
        if active:
            gx[a] += scale * (g_ap - g_an)
            gy[p] += scale * -g_ap
            gy[n] += scale * g_an
    value = losses.sum() * scale
    return value, gx, gy


def torch_crop_resize(image, boxes, size):
    """MTCNN's crop, one box at a time through torch's own resizers: the patch (zero outside the image), then
    area averaging for a box at least `size` wide, bilinear enlargement otherwise."""
    import torch
    from torch.nn import functional as F

    _, h, w = image.shape
    out = torch.zeros(len(boxes), 3, size, size)
    for i, (x1, y1, x2, y2) in enumerate(np.round(boxes).astype(int)):
        bw, bh = max(x2 - x1, 1), max(y2 - y1, 1)
        patch = torch.zeros(3, bh, bw)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if sx2 > sx1 and sy2 > sy1:
            patch[:, sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = image[:, sy1:sy2, sx1:sx2]
        if bw >= size:
            out[i] = F.interpolate(patch[None], size=(size, size), mode="area")[0]
        else:
            out[i] = F.interpolate(patch[None], size=(size, size), mode="bilinear", align_corners=False)[0]
    return out
