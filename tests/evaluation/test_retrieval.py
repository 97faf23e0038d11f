"""Retrieval metrics on a hand-computed example with distance ties and a class absent from the gallery."""

from __future__ import annotations

import numpy as np
import pytest

from acoustic_ssl.evaluation.retrieval import (
    rank_gallery,
    retrieval_confusions,
    retrieval_metrics,
    vector_distances,
)

GALLERY = np.array([0, 1, 1, 2])
QUERIES = np.array([1, 0, 3])  # class 3 has no gallery item
DISTANCES = np.array(
    [
        [0.5, 0.2, 0.9, 0.2],  # tie 1 vs 3 -> index 1 first: classes 1, 2, 0, 1
        [0.3, 0.1, 0.1, 0.3],  # order 1, 2, 0, 3: classes 1, 1, 0, 2
        [0.0, 0.0, 0.0, 0.0],  # all tied: gallery order
    ]
)


def test_ranking_is_stable() -> None:
    assert rank_gallery(DISTANCES).tolist() == [[1, 3, 0, 2], [1, 2, 0, 3], [0, 1, 2, 3]]


def test_recall_and_map() -> None:
    result = retrieval_metrics(DISTANCES, QUERIES, GALLERY)
    assert result["recall@1"] == pytest.approx(1 / 3)
    assert result["recall@2"] == pytest.approx(1 / 3)
    assert result["recall@5"] == pytest.approx(2 / 3)  # rank clipped to the gallery size
    assert result["recall@30"] == pytest.approx(2 / 3)
    # AP(q0) = (1/1 + 2/4) / 2, AP(q1) = 1/3; q2 has no relevant item and is skipped
    assert result["map"] == pytest.approx((0.75 + 1 / 3) / 2)


def test_map_nan_when_no_query_has_relevant_items() -> None:
    assert np.isnan(retrieval_metrics(DISTANCES[2:], QUERIES[2:], GALLERY)["map"])


def test_confusions() -> None:
    conf = retrieval_confusions(DISTANCES, QUERIES, GALLERY, num_classes=4, ks=(1, 2))
    expected1 = np.zeros((4, 4))
    expected1[1, 1] = expected1[0, 1] = expected1[3, 0] = 1.0
    np.testing.assert_allclose(conf[1], expected1)
    expected2 = np.array([[0, 1, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0, 0], [0.5, 0.5, 0, 0]])
    np.testing.assert_allclose(conf[2], expected2)  # class 2 has no query: zero row


def test_vector_distances() -> None:
    q = np.array([[0.0, 0.0], [1.0, 1.0]])
    g = np.array([[3.0, 4.0], [1.0, 1.0]])
    np.testing.assert_allclose(vector_distances(q, g), [[25.0, 2.0], [13.0, 0.0]])


def test_tiled_audio_distances_match_the_attention_formula() -> None:
    import torch

    from acoustic_ssl.evaluation.retrieval import attention_distances, tiled_audio_distances
    from acoustic_ssl.models import audio_map_from_vector

    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 128)).astype(np.float32)
    v = np.abs(rng.normal(size=(7, 128, 12, 16))).astype(np.float32)
    maps = audio_map_from_vector(torch.as_tensor(a)).numpy()
    expected = attention_distances(maps, v, chunk=2)
    np.testing.assert_allclose(tiled_audio_distances(a, v), expected, rtol=0, atol=1e-4 * expected.max())
