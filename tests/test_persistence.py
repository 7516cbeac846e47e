"""Saving and loading fitted models (safetensors + JSON), and pickling."""

import json
import pickle
import warnings

import numpy as np
import pytest

from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.persistence import FORMAT_VERSION


@pytest.fixture(scope="module", params=["lt_prefix", "prompt"])
def fitted(request, tiny_bert, pairs):
    X, y = pairs
    return LTuningClassifier(
        method=request.param, backbone=tiny_bert, prefix_length=4, max_epochs=1, random_state=0
    ).fit(X, y)


def test_save_load_round_trip(fitted, pairs, tmp_path):
    X, _ = pairs
    folder = fitted.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded = LTuningClassifier.load(folder)
    np.testing.assert_allclose(loaded.predict_proba(X), fitted.predict_proba(X), rtol=1e-6)
    assert list(loaded.classes_) == list(fitted.classes_)
    assert loaded.label_texts_ == fitted.label_texts_
    assert loaded.get_params()["method"] == fitted.method
    assert len(loaded.history_) == len(fitted.history_)
    config = json.loads((folder / "config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION
    assert {"torch", "transformers", "skorch", "sklearn_ltuning"} <= set(config["versions"])
    assert len(config["backbone"]["fingerprint"]) == 64


def test_saved_model_holds_only_the_trained_parameters(fitted, tmp_path):
    folder = fitted.save(tmp_path / "model")
    n_bytes = sum(p.numel() * p.element_size() for p in fitted.net_.module_.parameters())
    size = (folder / "model.safetensors").stat().st_size
    assert size <= 1.10 * n_bytes + 64 * 1024


def test_integer_classes_and_dict_label_texts_survive(tiny_bert, texts, tmp_path):
    X, y = texts
    y_int = np.array([1 if v == "positive" else 0 for v in y])
    clf = LTuningClassifier(
        backbone=tiny_bert,
        prefix_length=4,
        max_epochs=1,
        random_state=0,
        label_texts={0: "bad", 1: "good"},
    ).fit(X, y_int)
    loaded = LTuningClassifier.load(clf.save(tmp_path / "m"))
    assert loaded.classes_.dtype.kind == "i"
    assert loaded.label_texts == {0: "bad", 1: "good"} or loaded.label_texts == {
        "0": "bad",
        "1": "good",
    }
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_crash_mid_save_leaves_the_previous_model_whole(fitted, pairs, tmp_path, monkeypatch):
    import safetensors.torch

    folder = fitted.save(tmp_path / "model")
    before = (folder / "model.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        fitted.save(folder)
    assert (folder / "model.safetensors").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder left


@pytest.mark.parametrize("version", [1, 4, FORMAT_VERSION + 1])
def test_other_format_versions_are_refused_naming_both(fitted, tmp_path, version):
    # One format until a first release: an older or newer folder is refused, never
    # migrated, with the version it has and the one this package reads.
    folder = fitted.save(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = version
    (folder / "config.json").write_text(json.dumps(config))
    fix = "upgrade sklearn_ltuning" if version > FORMAT_VERSION else "refit the model"
    with pytest.raises(
        ValueError, match=rf"version {version}\b.*version {FORMAT_VERSION} only; {fix}"
    ):
        LTuningClassifier.load(folder)


def test_different_backbone_is_refused(fitted, tmp_path):
    folder = fitted.save(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    config["backbone"]["fingerprint"] = "0" * 64
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="differs from the one this model was trained on"):
        LTuningClassifier.load(folder)


def test_links_out_of_the_folder_and_non_model_folders_are_refused(fitted, tmp_path):
    folder = fitted.save(tmp_path / "model")
    outside = tmp_path / "elsewhere.safetensors"
    (folder / "model.safetensors").rename(outside)
    (folder / "model.safetensors").symlink_to(outside)
    with pytest.raises(ValueError, match="outside the model folder"):
        LTuningClassifier.load(folder)
    with pytest.raises(ValueError, match="no such model folder"):
        LTuningClassifier.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="config.json is missing"):
        LTuningClassifier.load(tmp_path / "empty")


def test_pickle_is_small_and_silent(fitted, pairs):
    X, _ = pairs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blob = pickle.dumps(fitted)
        again = pickle.loads(blob)
    # The frozen backbone travels as its source only: none of its weights are in the
    # pickle, which holds the trained numbers (with their optimizer state) and settings.
    embeddings = fitted.backbone_.model.get_input_embeddings().weight.detach().numpy()
    assert embeddings[:4].tobytes() not in blob
    trained = sum(p.numel() * 4 for p in fitted.net_.module_.parameters())
    assert len(blob) < 3 * trained + 64 * 1024
    np.testing.assert_allclose(again.predict_proba(X), fitted.predict_proba(X), rtol=1e-6)


def test_saved_repr_is_the_reloaded_repr_and_unstored_settings_are_named(
    tiny_bert, pairs, tmp_path
):
    from skorch.callbacks import EpochTimer

    X, y = pairs
    clf = LTuningClassifier(
        backbone=tiny_bert, prefix_length=5, max_epochs=1, random_state=7, lr=2e-3,
        label_texts="it is {label}", pair_encoding="cross", max_length=48,
    ).fit(X, y)  # fmt: skip
    loaded = LTuningClassifier.load(clf.save(tmp_path / "a"))
    assert repr(loaded) == repr(clf)
    assert json.loads((tmp_path / "a" / "config.json").read_text())["not_stored"] == []
    clf.set_params(callbacks=[EpochTimer()], train_split=0.25)
    clf.save(tmp_path / "b")
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["not_stored"] == ["train_split", "callbacks"]
    assert LTuningClassifier.load(tmp_path / "b").callbacks is None
