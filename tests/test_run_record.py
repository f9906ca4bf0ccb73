"""MLflow records the parameters that apply to the run: its data set, its input kind (run_record.py)."""

from deep_kmeans.run_record import RunInput, applicable_params, run_name, spanned_seeds
from deep_kmeans.data.custom import CustomSource


class Catalog(dict):
    load = dict.__getitem__

FEATURES = {"backbone": "resnet50", "backbone_weights": None, "text_encoder": "bert-base-uncased",
            "text_pooling": "mean", "text_max_length": 64, "batch_size": 128,
            "views": {"enabled": True, "crop_scale": [0.6, 1.0], "max_rotation": 15.0},
            "text_augment": {"source": "wordnet", "ppdb_path": None, "wordnet_dir": None, "aug_p": 0.3},
            "patch": None, "grid": None, "standardize": "auto",
            "tabular_views": {"corruption": 0.0, "masking": 0.0, "noise": 0.1}}
CUSTOM = {"path": None, "label_column": None, "id_column": None, "nan": "error", "image_size": 32,
          "image_shape": "auto"}
DATA = {"raw_root": "data/01_raw", "raw_dirs": {"mnist": "/m"}, "download": False,
        "options": {"digits": {"n_samples": 300}, "mnist": {"n_samples": None}}}


def test_a_method_group_is_logged_with_its_data_set_block_merged_and_the_others_dropped():
    take = {"embed_dim": 128, "depth": 8, "split": {"train_fraction": None},
            "overrides": {"digits": {"embed_dim": 64}, "mnist": {"embed_dim": 256, "heads": 4}}}
    split = {"train_fraction": None}
    assert applicable_params("take", take, "digits") == {"embed_dim": 64, "depth": 8, "split": split}
    assert applicable_params("take", take, "cifar10") == {"embed_dim": 128, "depth": 8, "split": split}
    assert "overrides" in take  # the node's own input is left alone


def test_data_keeps_the_current_data_set_and_where_files_come_from_only_for_files():
    # digits is embedded: no raw folder, nothing to download
    assert applicable_params("data", DATA, "digits") == {"options": {"digits": {"n_samples": 300}}}
    assert applicable_params("data", DATA, "mnist") == {"raw_root": "data/01_raw", "raw_dirs": {"mnist": "/m"},
                                                        "download": False, "options": {"mnist": {"n_samples": None}}}
    assert applicable_params("data", DATA, "agnews")["options"] == {}
    assert applicable_params("seed", 3, "digits") == 3
    everything = applicable_params("parameters", {"data": DATA, "seed": 0, "custom": CUSTOM}, "digits")
    assert everything == {"data": {"options": {"digits": {"n_samples": 300}}}, "seed": 0, "custom": {}}


def test_features_keep_what_acts_on_the_input_kind():
    assert set(applicable_params("features", FEATURES, "digits")) == {"views", "patch"}  # pixels
    assert set(applicable_params("features", FEATURES, "cifar10")) == {"backbone", "backbone_weights", "batch_size",
                                                                       "views", "patch", "grid"}
    assert set(applicable_params("features", FEATURES, "agnews")) == {
        "text_encoder", "text_pooling", "text_max_length", "text_augment", "batch_size", "views", "patch", "grid"}
    assert set(applicable_params("features", FEATURES, "reuters10k")) == {"patch", "grid"}  # tf-idf, no views
    # your own table or array: its transform and its views (image views where its rows are images, known once read)
    assert set(applicable_params("features", FEATURES, "custom")) == {"standardize", "views", "tabular_views",
                                                                      "patch", "grid"}
    assert "tabular_views" not in applicable_params("features", FEATURES, "digits")


def test_custom_options_only_for_your_own_data_and_its_kind(tmp_path):
    assert applicable_params("custom", CUSTOM, "digits") == {}
    table = RunInput.of("custom", Catalog(custom_source=CustomSource(str(tmp_path / "t.csv"))))
    assert table.kind == "vector"
    assert table.augmentable  # tabular views
    assert set(applicable_params("custom", CUSTOM, table)) == {"path", "label_column", "id_column", "nan",
                                                               "image_shape"}
    folder = RunInput.of("custom", Catalog(custom_source=CustomSource(str(tmp_path))))
    assert folder.kind == "rgb" and folder.augmentable
    assert set(applicable_params("custom", CUSTOM, folder)) == {"path", "image_size"}
    assert "backbone" in applicable_params("features", FEATURES, folder)  # images go through the backbone


def test_an_unknown_data_set_changes_nothing():
    assert applicable_params("features", FEATURES, "imagenet") == FEATURES  # the run's check reports the name


def test_run_name_says_method_data_set_and_seed():
    assert run_name(["take"], "digits", 0) == "take · digits · seed 0"
    assert run_name(["dec", "compare"], "mnist", 3) == "dec+compare · mnist · seed 3"


def test_a_run_over_seeds_is_named_by_the_seeds_it_spans():
    groups = {"compare": {"seeds": None}, "sweep": {"seeds": [0, 1, 2]}}
    every = spanned_seeds(["compare"], groups.get)
    assert run_name(["compare"], "digits", 0, every) == "compare · digits · every seed"
    assert spanned_seeds(["compare"], {"compare": {"seeds": "0 2"}}.get) == "seeds 0 2"  # as --params gives it
    assert run_name(["sweep"], "digits", 0, spanned_seeds(["sweep"], groups.get)) == "sweep · digits · seeds 0 1 2"
    assert spanned_seeds(["take"], groups.get) is None
