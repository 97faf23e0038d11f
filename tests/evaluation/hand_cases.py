"""Hand-made feature sets whose evaluation results are known, shared by the evaluation tests."""

from __future__ import annotations

import numpy as np

# kNN: 1-D training features whose sorted neighbour labels are, from the validation query at 0: 1 0 0 1 1
# (right only at k = 3), from the test query at 10: 0 1 1 0 0 (wrong only at k = 3), from the one at 20:
# all 1.
# With k in (1, 3, 5): k = 3 is chosen, test accuracy 0.5 there and 1.0 at k = 1 and k = 5.
KNN_TRAIN = np.array(
    [0.1, 0.2, -0.3, 0.45, -0.5, 10.1, 9.8, 10.3, 9.6, 10.5, 20.1, 19.8, 20.3, 20.4, 19.5]
)[:, None]
KNN_LABELS = np.array([1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1])
KNN_VAL, KNN_VAL_LABELS = np.array([[0.0]]), np.array([0])
KNN_TEST, KNN_TEST_LABELS = np.array([[10.0], [20.0]]), np.array([0, 1])
KNN_SPLITS = (KNN_TRAIN, KNN_LABELS, KNN_VAL, KNN_VAL_LABELS, KNN_TEST, KNN_TEST_LABELS)
