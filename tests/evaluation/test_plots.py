import numpy as np
import pytest

from deep_kmeans.evaluation.plots import confusion_figure, embed_2d, embedding_figure, history_figure


def test_confusion_orders_clusters_by_their_class():
    fig = confusion_figure([0, 0, 1, 1, 2], [2, 2, 0, 0, 1], ["a", "b", "c"])
    image = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(np.asarray(image), np.eye(3) * [2, 2, 1])  # diagonal after reordering
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["2", "0", "1"]


def test_embedding_and_history_figures():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(60, 5))
    fig = embedding_figure(z, np.repeat([0, 1, 2], 20), np.repeat([1, 0, 2], 20))
    assert len(fig.axes) == 2 and len(fig.axes[0].collections[0].get_offsets()) == 60
    fig = history_figure({"pretrain/l_r": [1.0, 0.5], "pretrain/l_cl": [None, 2.0], "cluster/l_k": [3.0, 2.0]})
    assert [ax.get_title() for ax in fig.axes] == ["pretrain", "cluster"]
    assert len(fig.axes[0].lines) == 2


def test_figures_stay_out_of_pyplots_registry_and_still_save(tmp_path):
    """A sweep holds dozens of figures until the catalog saves them: pyplot must not keep (and warn about)
    them, and each still saves as a PNG."""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figs = [confusion_figure([0, 1, 1], [1, 0, 0]) for _ in range(25)]
    assert plt.get_fignums() == before
    figs[0].savefig(tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name,z,positions", [
    ("constant", np.ones((200, 5)), 1),
    ("one row repeated", np.tile(np.arange(5.0), (200, 1)), 1),
    ("closer than rounding", 1e6 + np.random.default_rng(0).normal(size=(100, 8)) * 1e-12, 1),
    ("three points", np.repeat(np.eye(3, 8), 40, axis=0), 3),
    ("not finite", np.full((50, 4), np.nan), 1),
    ("one dimension", np.arange(30.0)[:, None], 30),
])
def test_degenerate_embeddings_are_drawn_without_t_sne(name, z, positions):
    """t-SNE of identical points crashed the process (a segfault in scikit-learn's Barnes-Hut code, before
    2026-12-04): such points are placed without it, each distinct row at one position."""
    coords, idx = embed_2d(z)
    assert coords.shape == (len(idx), 2) and np.isfinite(coords).all()
    assert len(np.unique(coords.round(9), axis=0)) == positions
    fig = embedding_figure(z, None, np.zeros(len(z), int))
    assert ("distinct positions" in fig._suptitle.get_text()) == (positions < len(idx))


def test_t_sne_runs_on_the_distinct_rows_and_duplicates_share_their_position():
    rng = np.random.default_rng(1)
    z = np.repeat(rng.normal(size=(8, 6)), 5, axis=0)  # 8 points, each 5 times
    coords, idx = embed_2d(z)
    assert len(np.unique(coords.round(6), axis=0)) == 8
    for start in range(0, 40, 5):
        assert np.allclose(coords[start:start + 5], coords[start])


def test_the_embedding_of_constant_data_never_kills_the_process(tmp_path):
    """The crash itself, in a child process: a signal (exit code < 0) would be the segfault."""
    import subprocess
    import sys

    code = ("import numpy as np; from deep_kmeans.evaluation.plots import embedding_figure; "
            "embedding_figure(np.ones((300, 16)), None, np.zeros(300, int)).savefig('e.png')")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "e.png").stat().st_size > 0
