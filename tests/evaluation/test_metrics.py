import math

import numpy as np
import pytest

from deep_kmeans.evaluation.metrics import cluster_accuracy, clustering_scores, hungarian_map, nmi_max


def test_accuracy_is_label_permutation_invariant_by_hand():
    y = [0, 0, 1, 1, 2, 2]
    assert cluster_accuracy(y, [2, 2, 0, 0, 1, 1]) == 1.0
    # best map: 1→0, 0→1, 2→2 matches 2 + 1 + 2 = 5 of 6
    assert cluster_accuracy(y, [1, 1, 0, 2, 2, 2]) == pytest.approx(5 / 6)
    assert hungarian_map(y, [2, 2, 0, 0, 1, 1]) == {2: 0, 0: 1, 1: 2}
    # more clusters than classes: unmatched cluster counts as wrong
    assert cluster_accuracy([0, 0, 1, 1], [0, 1, 2, 2]) == pytest.approx(3 / 4)


def test_nmi_normalisations_by_hand():
    # y = (0, 0, 1, 1), c = (0, 0, 0, 1): H(y) = ln 2, H(c) = −(3/4 ln 3/4 + 1/4 ln 1/4)
    y, c = [0, 0, 1, 1], [0, 0, 0, 1]
    hy = math.log(2)
    hc = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    # I = Σ p(y, c) ln p(y, c) / (p(y) p(c)): cells (0,0) 1/2, (1,0) 1/4, (1,1) 1/4
    mi = 0.5 * math.log(0.5 / (0.5 * 0.75)) + 0.25 * math.log(0.25 / (0.5 * 0.75)) + 0.25 * math.log(0.25 / (0.5 * 0.25))
    scores = clustering_scores(y, c)
    assert scores["nmi"] == pytest.approx(2 * mi / (hy + hc))
    assert scores["nmi_max"] == pytest.approx(mi / max(hy, hc)) == pytest.approx(nmi_max(y, c))
    assert scores["nmi_max"] <= scores["nmi"]


def test_ari_and_errors():
    assert clustering_scores([0, 0, 1, 1], [1, 1, 0, 0])["ari"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="3 labels but y_pred has 2"):
        cluster_accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="1-D"):
        cluster_accuracy(np.zeros((2, 2)), np.zeros((2, 2)))
