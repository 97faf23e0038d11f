"""Cross-modal retrieval scored like the original ``crossmodalretrieval_featuremaps.py``.

Every query ranks the *whole* gallery (its own paired item included) by distance; an item is relevant when it
has the query's class (video identity is ignored). Distance ties are broken by gallery index (stable sort), so
rankings are deterministic.

* Recall / CMC at rank k: fraction of all queries with at least one same-class item in the top k. A query
  whose class is absent from the gallery can never hit and still counts in the denominator (as the original
  divides by N).
* mAP (not in the original; added): average precision with class-level relevance, averaged over the queries
  that have at least one relevant gallery item (queries of an absent class are skipped; NaN if none is left).
* Confusion at k: row c accumulates the classes of the top-k items of every query of class c, divided by
  (#queries of class c · k), so each row of a class with queries sums to 1; classes without queries give a
  zero row.

Distances come either from vectors (Euclidean) or from maps via the audio-guided attention formula
(``acoustic_ssl.models.attention.attention_distance``: audio map A_a against every gallery video map V_j).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from acoustic_ssl.evaluation.protocol import REPORTED_RANKS, RETRIEVAL_RANKS


def rank_gallery(distances: np.ndarray) -> np.ndarray:
    """Gallery indices [Q, G] sorted by increasing distance; ties keep gallery order."""
    d = np.asarray(distances)
    if d.ndim != 2:
        raise ValueError(f"distances must be [queries, gallery], got shape {d.shape}")
    return np.argsort(d, axis=1, kind="stable")


def vector_distances(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances [Q, G] (same ranking as Euclidean)."""
    q = np.asarray(queries, dtype=np.float64)
    g = np.asarray(gallery, dtype=np.float64)
    d = (q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2.0 * q @ g.T
    return np.maximum(d, 0.0)


def attention_distances(audio_maps: np.ndarray, video_maps: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Distances [Q, G] between every audio map A_a [Q,128,12,16] and every video map V_j [G,128,12,16].

    Uses the models' ``attention_distance`` in chunks of queries to bound memory.
    """
    import torch

    from acoustic_ssl.models.attention import attention_distance

    video = torch.as_tensor(np.asarray(video_maps, dtype=np.float32))
    audio = np.asarray(audio_maps, dtype=np.float32)
    out = np.empty((len(audio), len(video)), dtype=np.float64)
    with torch.inference_mode():
        for lo in range(0, len(audio), chunk):
            a = torch.as_tensor(audio[lo : lo + chunk])
            out[lo : lo + chunk] = attention_distance(a, video).double().numpy()
    return out


def _l2n(x: np.ndarray) -> np.ndarray:
    """TF ``l2_normalize`` along the last axis (same epsilon as the models' ``l2n``)."""
    return x / np.sqrt(np.maximum((x * x).sum(axis=-1, keepdims=True), 1e-12))


def tiled_audio_distances(
    audio_embeddings: np.ndarray, video_maps: np.ndarray, chunk: int = 32
) -> np.ndarray:
    """Attention distances [Q, G] when every audio map is a tiled HearNet embedding (ReLU(a) at each pixel).

    Then Σ_p A_a⊙V_j⊙V_j = ReLU(a) ⊙ Σ_p V_j², so the per-pixel product is never formed; equal to
    :func:`attention_distances` on the tiled maps.
    """
    a = np.maximum(np.asarray(audio_embeddings, dtype=np.float64), 0.0)
    v = np.asarray(video_maps, dtype=np.float64)
    energy = (v * v).reshape(len(v), v.shape[1], -1).sum(axis=2)  # [G, C]
    y = _l2n(a * v[0, 0].size)  # Σ_p of the tiled map = P · ReLU(a)
    out = np.empty((len(a), len(v)), dtype=np.float64)
    for lo in range(0, len(a), chunk):
        x = _l2n(a[lo : lo + chunk, None, :] * energy[None, :, :])
        out[lo : lo + chunk] = ((x - y[lo : lo + chunk, None, :]) ** 2).sum(axis=2)
    return out


def first_relevant_rank(
    order: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray
) -> np.ndarray:
    """0-based rank of each query's first same-class gallery item (int64 max when there is none)."""
    relevant = np.asarray(gallery_labels)[order] == np.asarray(query_labels)[:, None]
    return np.where(relevant.any(axis=1), relevant.argmax(axis=1), np.iinfo(np.int64).max)


def hits_at_ranks(
    order: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray, ranks: Sequence[int]
) -> dict[int, np.ndarray]:
    """Per query and rank k: whether a relevant item is among the top k (k larger than the gallery is
    clipped to its size); recall@k is their mean, and the bootstrap resamples them."""
    first_hit = first_relevant_rank(order, query_labels, gallery_labels)
    return {k: first_hit < min(k, order.shape[1]) for k in ranks}


def recall_at_ranks(
    order: np.ndarray,
    query_labels: np.ndarray,
    gallery_labels: np.ndarray,
    ranks: Sequence[int] = RETRIEVAL_RANKS,
) -> dict[str, float]:
    """``recall@k`` for each k: the share of queries with a hit (:func:`hits_at_ranks`)."""
    hits = hits_at_ranks(order, query_labels, gallery_labels, ranks)
    return {f"recall@{k}": float(np.mean(hit)) for k, hit in hits.items()}


def mean_average_precision(order: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray) -> float:
    """mAP with class-level relevance over queries that have at least one relevant item."""
    relevant = (np.asarray(gallery_labels)[order] == np.asarray(query_labels)[:, None]).astype(np.float64)
    n_rel = relevant.sum(axis=1)
    keep = n_rel > 0
    if not keep.any():
        return float("nan")
    hits = np.cumsum(relevant, axis=1)
    precision = hits / np.arange(1, relevant.shape[1] + 1)[None, :]
    ap = (precision * relevant).sum(axis=1)[keep] / n_rel[keep]
    return float(ap.mean())


def confusion_at_k(
    order: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray, k: int, num_classes: int
) -> np.ndarray:
    """Class confusion [C, C] of the top-k retrieved items, rows normalised by (#queries of the class · k)."""
    k = min(k, order.shape[1])
    q = np.asarray(query_labels, dtype=np.int64)
    top = np.asarray(gallery_labels, dtype=np.int64)[order[:, :k]]
    counts = np.zeros((num_classes, num_classes), dtype=np.float64)
    np.add.at(counts, (np.repeat(q, k), top.ravel()), 1.0)
    per_class = np.bincount(q, minlength=num_classes).astype(np.float64) * k
    return np.divide(counts, per_class[:, None], out=np.zeros_like(counts), where=per_class[:, None] > 0)


def retrieval_metrics(
    distances: np.ndarray,
    query_labels: np.ndarray,
    gallery_labels: np.ndarray,
    ranks: Sequence[int] = RETRIEVAL_RANKS,
) -> dict[str, float]:
    """``recall@k`` for the given ranks plus ``map``, as plain floats."""
    order = rank_gallery(distances)
    result = recall_at_ranks(order, query_labels, gallery_labels, ranks)
    result["map"] = mean_average_precision(order, query_labels, gallery_labels)
    return result


def retrieval_confusions(
    distances: np.ndarray,
    query_labels: np.ndarray,
    gallery_labels: np.ndarray,
    num_classes: int,
    ks: Sequence[int] = REPORTED_RANKS,
) -> dict[int, np.ndarray]:
    """Confusion matrices keyed by k (the original's top-1/5/10)."""
    order = rank_gallery(distances)
    return {k: confusion_at_k(order, query_labels, gallery_labels, k, num_classes) for k in ks}
