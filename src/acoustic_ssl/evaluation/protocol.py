"""The evaluation protocol's numbers, one home for the functions, the command line and the demo.

Plain constants and no imports, so that ``acoustic-ssl --help`` can print them as defaults without loading
NumPy. Change one here and every scorer, flag and preset default follows.
"""

from __future__ import annotations

# kNN: k chosen on the validation split from these (the original's knn.py; smallest k wins ties)
KNN_KS: tuple[int, ...] = (7, 9, 11, 13, 15)
# retrieval: the recall@k that metrics.json holds for each direction
RETRIEVAL_RANKS: tuple[int, ...] = (1, 2, 5, 10, 30)
# retrieval: the ranks of the original's figures (crossmodal.py's top-1/5/10): the confusion matrices, the
# per-sample hits the bootstrap draws from, and the demo's R@k columns
REPORTED_RANKS: tuple[int, ...] = (1, 5, 10)
# localisation: overlay PNGs per map (simulated ground truth) or per box annotation file, spread evenly over
# the scored samples
OVERLAYS_PER_MAP = 8
