"""Hand-made feature sets whose evaluation results are known, shared by the evaluation tests."""

from __future__ import annotations

import numpy as np

# kNN on 1-D features, k in (1, 3, 5). Sorted neighbour labels from each query:
#   validation 0.0 (class 0): 1 0 0 1 1 -> right only at k = 3;  validation 30.0 (class 1): all 1 -> right
#   test 10.0 and 20.0 (class 0): 0 1 1 0 0 -> wrong only at k = 3
# Validation accuracy 0.5 / 1.0 / 0.5, test accuracy 1.0 / 0.0 / 1.0: k = 3 is chosen and scores 0.0,
# unlike the smallest or largest k, the k best on the test split, or validation and test swapped (0.5).
KNN_TRAIN = np.concatenate([
    [0.1, 0.2, -0.3, 0.45, -0.5],  # around the validation query at 0
    [10.1, 9.8, 10.3, 9.6, 10.5, 20.1, 19.8, 20.3, 19.6, 20.5],  # around the test queries
    [30.1, 29.8, 30.3, 29.6, 30.5],  # around the validation query at 30
])[:, None]
KNN_LABELS = np.array([1, 0, 0, 1, 1, *[0, 1, 1, 0, 0] * 2, *[1] * 5])
KNN_VAL, KNN_VAL_LABELS = np.array([[0.0], [30.0]]), np.array([0, 1])
KNN_TEST, KNN_TEST_LABELS = np.array([[10.0], [20.0]]), np.array([0, 0])
KNN_SPLITS = (KNN_TRAIN, KNN_LABELS, KNN_VAL, KNN_VAL_LABELS, KNN_TEST, KNN_TEST_LABELS)
