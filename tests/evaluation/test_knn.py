"""kNN, linear probe and run aggregation against hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest
from hand_cases import KNN_SPLITS

from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.knn import (
    aggregate_runs,
    knn_predict,
    knn_protocol,
    linear_probe,
    nearest_neighbours,
)


def test_distance_and_vote_ties_are_deterministic() -> None:
    train = np.array([[0.0], [1.0], [2.0], [3.0]])
    labels = np.array([1, 1, 0, 0])
    query = np.array([[1.5]])  # distances 1.5, 0.5, 0.5, 1.5
    # distance ties keep training order
    assert nearest_neighbours(train, query, 4).tolist() == [[1, 2, 0, 3]]
    # k=2: one vote each for classes 1 and 0 -> lowest class index wins (sklearn's rule)
    assert knn_predict(train, labels, query, 2).tolist() == [0]
    # k=3: neighbours 1, 2, 0 -> classes 1, 0, 1
    assert knn_predict(train, labels, query, 3).tolist() == [1]
    assert knn_predict(train, labels, query, 4).tolist() == [0]


def test_matches_sklearn_without_ties() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(1)
    train, test = rng.normal(size=(80, 5)), rng.normal(size=(30, 5))
    labels = rng.integers(0, 4, size=80)
    for k in (7, 9, 15):
        expected = KNeighborsClassifier(n_neighbors=k).fit(train, labels).predict(test)
        assert np.array_equal(knn_predict(train, labels, test, k), expected)


def test_protocol_chooses_k_on_validation() -> None:
    train = np.array([[0.0], [1.0], [2.0], [5.0], [6.0]])
    labels = np.array([0, 0, 1, 1, 1])
    # 1.9 is wrong at k=1 (nearest is class 1) and right at k=3 (classes 1, 0, 0)
    result = knn_protocol(train, labels, np.array([[1.9]]), [0], np.array([[5.4], [0.2]]), [1, 1], ks=(1, 3))
    assert result["k"] == 3
    assert result["val_accuracy@1"] == 0.0 and result["val_accuracy"] == 1.0
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["test_accuracy@1"] == pytest.approx(0.5)


def test_protocol_reports_the_test_accuracy_at_the_k_chosen_on_validation() -> None:
    result = knn_protocol(*KNN_SPLITS, ks=(1, 3, 5))
    assert [result[f"val_accuracy@{k}"] for k in (1, 3, 5)] == [0.5, 1.0, 0.5]
    assert [result[f"test_accuracy@{k}"] for k in (1, 3, 5)] == [1.0, 0.0, 1.0]
    # neither the largest k, nor the smallest, nor the k that is best on the test set
    assert result["k"] == 3 and result["val_accuracy"] == 1.0 and result["accuracy"] == 0.0


def test_protocol_smallest_k_wins_validation_ties_and_skips_large_k() -> None:
    train = np.array([[0.0], [1.0], [2.0], [5.0], [6.0]])
    labels = np.array([0, 0, 1, 1, 1])
    result = knn_protocol(train, labels, np.array([[5.5]]), [1], np.array([[0.1]]), [0], ks=(3, 1, 7))
    assert result["k"] == 1
    assert "val_accuracy@7" not in result
    with pytest.raises(DataError, match="training samples"):
        knn_protocol(train, labels, train, labels, train, labels, ks=(7,))


def test_linear_probe_separable() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 3
        return centres[y] + rng.normal(scale=0.3, size=(n, 2)), y

    (xtr, ytr), (xva, yva), (xte, yte) = draw(60), draw(30), draw(30)
    result = linear_probe(xtr, ytr, xva, yva, xte, yte, cs=(0.01, 1.0))
    assert result["accuracy"] == 1.0
    assert result["C"] == 0.01  # both C separate the data: the smallest wins the tie
    mislabelled = linear_probe(xtr, ytr, xva, (yva + 1) % 3, xte, yte, cs=(0.01, 1.0))
    assert mislabelled["val_accuracy"] == 0.0 and mislabelled["accuracy"] == 1.0  # the test split's score


def test_aggregate_runs() -> None:
    values = [0.841446, 0.833930, 0.841446, 0.834646, 0.841446]
    plain = aggregate_runs(values)  # the default: plain mean and population std, as the original
    assert plain["n"] == 5
    assert plain["mean"] == pytest.approx(0.838583, abs=1e-6)  # the original's meanstd.py figures
    assert plain["std"] == pytest.approx(0.003514, abs=1e-6)
    dropped = aggregate_runs(values, drop_extremes=True)
    kept = [0.834646, 0.841446, 0.841446]
    assert dropped["n"] == 3
    assert dropped["mean"] == pytest.approx(np.mean(kept))
    assert dropped["std"] == pytest.approx(np.std(kept))
    assert aggregate_runs([0.5, 0.7], drop_extremes=True)["mean"] == pytest.approx(0.6)


def test_k_equal_to_the_training_size_is_usable() -> None:
    """Five training rows: k = 5 is a valid neighbourhood (the whole set votes), k = 7 is not."""
    train = np.array([[0.0], [1.0], [2.0], [5.0], [6.0]])
    labels = np.array([0, 0, 1, 1, 1])
    # the query at 0.1 is class 0: wrong at k = 5 (three votes for 1), right at k = 1
    result = knn_protocol(train, labels, np.array([[0.1]]), [1], np.array([[0.1]]), [0], ks=(1, 5, 7))
    assert sorted(k for k in result if k.startswith("val_accuracy@")) == ["val_accuracy@1", "val_accuracy@5"]
    assert result["val_accuracy@5"] == 1.0 and result["val_accuracy@1"] == 0.0
    assert result["k"] == 5 and result["accuracy"] == 0.0


def test_trimmed_mean_of_exactly_three_runs_drops_both_extremes() -> None:
    assert aggregate_runs([0.9, 0.1, 0.5], drop_extremes=True) == {"mean": 0.5, "std": 0.0, "n": 1.0}
    assert aggregate_runs([0.9, 0.1, 0.5]) == pytest.approx({"mean": 0.5, "std": np.std([0.9, 0.1, 0.5]),
                                                            "n": 3.0})
