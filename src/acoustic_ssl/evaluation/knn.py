"""Classification protocols on frozen features: kNN (the original's), a linear probe, run aggregation.

kNN follows the original ``knn.py``: fitted on the *training* features, Euclidean distance, uniform weights,
k chosen from {7, 9, 11, 13, 15} by validation accuracy (strict ``>`` so the smallest k wins ties), then the
test accuracy at that k. It is implemented directly in NumPy so that ties are deterministic:

* distance ties between neighbours are broken by training index (stable sort), so the k nearest are always the
  same set;
* vote ties go to the lowest class index, which is what scikit-learn's ``KNeighborsClassifier`` does
  (``argmax`` over its sorted ``classes_``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.protocol import KNN_KS

PROBE_CS: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)


def _as_features(x: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be [N, D], got shape {array.shape}")
    return array


def nearest_neighbours(train: np.ndarray, query: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Indices [Q, k] of the k nearest training rows (Euclidean), ties broken by training index."""
    train = _as_features(train, "train")
    query = _as_features(query, "query")
    if not 1 <= k <= len(train):
        raise ValueError(f"k={k} must be between 1 and the number of training samples ({len(train)})")
    train_sq = np.einsum("nd,nd->n", train, train)
    out = np.empty((len(query), k), dtype=np.int64)
    for lo in range(0, len(query), chunk):
        q = query[lo : lo + chunk]
        d = np.einsum("qd,qd->q", q, q)[:, None] + train_sq[None, :] - 2.0 * q @ train.T
        np.maximum(d, 0.0, out=d)
        out[lo : lo + chunk] = np.argsort(d, axis=1, kind="stable")[:, :k]
    return out


def knn_predict_from_neighbours(neighbour_labels: np.ndarray, k: int) -> np.ndarray:
    """Majority vote over the first k neighbour labels [Q, K>=k]; vote ties go to the lowest class index."""
    labels = np.asarray(neighbour_labels, dtype=np.int64)[:, :k]
    n_classes = int(labels.max()) + 1 if labels.size else 1
    votes = np.zeros((len(labels), n_classes), dtype=np.int64)
    rows = np.repeat(np.arange(len(labels)), labels.shape[1])
    np.add.at(votes, (rows, labels.ravel()), 1)
    return votes.argmax(axis=1)  # first maximum = lowest class index


def knn_predict(train: np.ndarray, train_labels: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Predicted class per query row with uniform-weight kNN."""
    neighbours = nearest_neighbours(train, query, k)
    return knn_predict_from_neighbours(np.asarray(train_labels)[neighbours], k)


def _accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    labels = np.asarray(labels)
    return float(np.mean(pred == labels)) if len(labels) else float("nan")


def knn_protocol(
    train: np.ndarray,
    train_labels: np.ndarray,
    val: np.ndarray,
    val_labels: np.ndarray,
    test: np.ndarray,
    test_labels: np.ndarray,
    ks: Sequence[int] = KNN_KS,
) -> dict[str, float]:
    """The original kNN protocol; returns plain floats.

    Keys: ``accuracy`` (test at the chosen k), ``k``, ``val_accuracy`` (at the chosen k) and per-k
    ``val_accuracy@k`` / ``test_accuracy@k``. Values of k above the training-set size are skipped.
    """
    train_labels = np.asarray(train_labels, dtype=np.int64)
    usable = sorted(k for k in ks if k <= len(train))
    if not usable:
        raise DataError(f"no k in {list(ks)} is <= the {len(train)} training samples (pass smaller --knn-k)")
    kmax = usable[-1]
    val_nb = train_labels[nearest_neighbours(train, val, kmax)]
    test_nb = train_labels[nearest_neighbours(train, test, kmax)]
    result: dict[str, float] = {}
    best_k, best_val = usable[0], -1.0
    for k in usable:
        val_acc = _accuracy(knn_predict_from_neighbours(val_nb, k), val_labels)
        test_acc = _accuracy(knn_predict_from_neighbours(test_nb, k), test_labels)
        result[f"val_accuracy@{k}"] = val_acc
        result[f"test_accuracy@{k}"] = test_acc
        if val_acc > best_val:  # strict: the smallest k wins ties, as the original
            best_k, best_val = k, val_acc
    result.update(k=float(best_k), val_accuracy=best_val, accuracy=result[f"test_accuracy@{best_k}"])
    return result


def linear_probe(
    train: np.ndarray,
    train_labels: np.ndarray,
    val: np.ndarray,
    val_labels: np.ndarray,
    test: np.ndarray,
    test_labels: np.ndarray,
    cs: Sequence[float] = PROBE_CS,
    max_iter: int = 2000,
) -> dict[str, float]:
    """Multinomial logistic regression on standardised features; C chosen on validation (smallest wins ties).

    The scaler is fitted on the training features only. Returns ``accuracy`` (test), ``C``, ``val_accuracy``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(_as_features(train, "train"))
    xtr, xva, xte = (
        scaler.transform(_as_features(a, n)) for a, n in ((train, "train"), (val, "val"), (test, "test"))
    )
    ytr = np.asarray(train_labels, dtype=np.int64)
    best: tuple[float, float, object] | None = None
    for c in sorted(cs):
        if len(np.unique(ytr)) < 2:
            raise DataError("the linear probe needs at least two classes in the training features")
        clf = LogisticRegression(C=c, max_iter=max_iter).fit(xtr, ytr)
        val_acc = _accuracy(clf.predict(xva), val_labels)
        if best is None or val_acc > best[1]:
            best = (c, val_acc, clf)
    assert best is not None
    c, val_acc, clf = best
    return {"accuracy": _accuracy(clf.predict(xte), test_labels), "C": float(c), "val_accuracy": val_acc}


def aggregate_runs(values: Sequence[float], drop_extremes: bool = False) -> dict[str, float]:
    """Mean ± population std over repeated runs, as the original's ``compute_knn_accuracy.py`` over its 5.

    With ``drop_extremes`` one minimum and one maximum are removed first (a trimmed mean; it needs at least 3
    values, otherwise all values are used). Returns ``mean``, ``std``, ``n``.
    """
    array = np.sort(np.asarray(values, dtype=np.float64))
    if array.size == 0:
        raise ValueError("aggregate_runs needs at least one value")
    if drop_extremes and array.size >= 3:
        array = array[1:-1]
    return {"mean": float(array.mean()), "std": float(array.std()), "n": float(array.size)}
