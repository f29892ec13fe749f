"""Clustering quality against known identities."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from faceprint.utils.numeric import adjusted_rand, contingency, normalized_mutual_info


@dataclass
class ClusteringReport:
    nmi: float
    ari: float
    pairwise_precision: float  # of pairs put together, the fraction that are one person
    pairwise_recall: float  # of pairs of one person, the fraction put together
    pairwise_f1: float
    purity: float
    n_clusters: int
    n_identities: int
    n_unclustered: int

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (f"NMI {self.nmi:.4f}  ARI {self.ari:.4f}  pairwise P/R/F1 {self.pairwise_precision:.4f} / "
                f"{self.pairwise_recall:.4f} / {self.pairwise_f1:.4f}  purity {self.purity:.4f}  "
                f"{self.n_clusters} clusters for {self.n_identities} identities ({self.n_unclustered} unclustered)")


def _singletons(pred: np.ndarray) -> tuple[np.ndarray, int]:
    """Unclustered items (-1) each become a cluster of their own, so leaving faces out is not free."""
    pred = np.asarray(pred).copy()
    n_un = int((pred < 0).sum())
    if n_un:
        pred[pred < 0] = pred.max() + 1 + np.arange(n_un)
    return pred, n_un


def pairwise_scores(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1, from the contingency table's non-empty cells only (people x clusters
    dense would be 10^10 cells at 10^5 faces each). Plain numpy: calibration scores thousands of cuts, and
    scikit-learn's argument checks alone cost ~20 ms a call."""
    pred, _ = _singletons(pred)
    t = np.unique(np.asarray(truth), return_inverse=True)[1].ravel().astype(np.int64)
    p = np.unique(pred, return_inverse=True)[1].ravel().astype(np.int64)

    def pairs(counts: np.ndarray) -> float:
        c = counts.astype(np.float64)
        return float((c * (c - 1) / 2).sum())

    same_cluster, same_identity = pairs(np.bincount(p)), pairs(np.bincount(t))
    both = pairs(np.unique(t * (p.max() + 1) + p, return_counts=True)[1])
    precision = both / same_cluster if same_cluster else 1.0
    recall = both / same_identity if same_identity else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def clustering_report(truth: np.ndarray, pred: np.ndarray) -> ClusteringReport:
    """Unclustered items (-1) each count as a cluster of their own, so leaving faces out is not free."""
    truth = np.asarray(truth)
    pred, n_un = _singletons(pred)
    precision, recall, f1 = pairwise_scores(truth, pred)
    _, cluster, count = contingency(truth, pred)
    largest = np.zeros(cluster.max() + 1, np.int64)
    np.maximum.at(largest, cluster, count)  # each cluster's largest identity
    return ClusteringReport(
        normalized_mutual_info(truth, pred), adjusted_rand(truth, pred),
        precision, recall, f1, float(largest.sum() / len(truth)),
        int(len(np.unique(pred)) - n_un), len(np.unique(truth)), n_un,
    )
