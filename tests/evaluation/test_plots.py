import numpy as np

from deep_kmeans.evaluation.plots import confusion_figure, embedding_figure, history_figure


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
