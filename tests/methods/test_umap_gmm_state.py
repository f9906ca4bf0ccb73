"""umap_gmm's model as plain arrays (umap_gmm.model_state): what the catalog's safe .pt files can hold."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from deep_kmeans.io import SafeTorchDataset
from deep_kmeans.methods.take import vector_geometry, with_fitted_head
from deep_kmeans.methods.umap_gmm import fit_umap_gmm, is_state, model_from_state, model_state, predict_umap_gmm


def test_the_state_round_trips_through_a_safe_file_with_the_same_predictions(tmp_path):
    x = load_digits().data[:200].astype(np.float32) / 16
    fitted = fit_umap_gmm(x, 5, vector_geometry(64, 1), {"n_neighbors": 10, "n_init": 1}, seed=0,
                          progress=False).model
    ds = SafeTorchDataset(filepath=str(tmp_path / "model.pt"))
    ds.save(model_state(fitted))
    stored = ds.load()
    assert is_state(stored) and model_state(stored) is stored
    new = x[:40] + 0.01
    again = model_from_state(stored)
    np.testing.assert_array_equal(again["umap"].embedding_, fitted["umap"].embedding_)
    np.testing.assert_array_equal(predict_umap_gmm(stored, new), predict_umap_gmm(fitted, new))
    np.testing.assert_array_equal(again["gmm"].predict_proba(again["umap"].transform(new)),
                                  fitted["gmm"].predict_proba(fitted["umap"].transform(new)))
    # a TAKE model's head: fitted once for predict and soft_assignments; other states pass through
    model = {"tae": {}, "knet": None, "head": stored}
    assert not is_state(with_fitted_head(model)["head"]) and with_fitted_head({"knet": None}) == {"knet": None}


@pytest.mark.slow
def test_umap_leaves_torch_on_the_threads_it_had():
    """numba's OpenMP layer, started by UMAP's first fit in a process, sets the process's OpenMP thread count to
    every core, which torch reads too: a fresh process (numba not started yet) shows it."""
    import subprocess
    import sys

    code = ("import numpy as np, torch; torch.set_num_threads(1)\n"
            "from deep_kmeans.data.registry import vector_geometry\n"
            "from deep_kmeans.methods.umap_gmm import fit_umap_gmm\n"
            "x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)\n"
            "fit_umap_gmm(x, 3, vector_geometry(8, 2), {'n_neighbors': 10}, progress=False)\n"
            "print(torch.get_num_threads())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "1"
