"""Loading a model folder runs no code from it, whatever its config.json says."""

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_ltuning import LTuningClassifier

EVIL_MODULE = """
import pathlib
pathlib.Path({marker!r}).write_text("evil code ran")
from transformers import BertConfig, BertModel


class EvilConfig(BertConfig):
    model_type = "bert"


class EvilModel(BertModel):
    config_class = EvilConfig
"""


@pytest.fixture(scope="module")
def saved(tiny_bert, pairs, tmp_path_factory):
    X, y = pairs
    clf = LTuningClassifier(
        backbone=tiny_bert, prefix_length=4, max_epochs=1, batch_size=8, random_state=0
    ).fit(X, y)
    return clf.save(tmp_path_factory.mktemp("saved") / "model")


def _tamper(saved, tiny_bert, tmp_path, *, backbone):
    """A copy of the saved model whose config.json names ``backbone`` and trusts its code."""
    model = tmp_path / "model"
    shutil.copytree(saved, model)
    config = json.loads((model / "config.json").read_text())
    config["params"]["backbone"] = backbone
    config["params"]["trust_remote_code"] = True
    config["backbone"]["argument"] = backbone
    (model / "config.json").write_text(json.dumps(config))
    return model


def _evil_backbone(tiny_bert, tmp_path):
    """The tiny BERT folder plus a module that writes a marker file when imported."""
    evil = tmp_path / "evil"
    shutil.copytree(tiny_bert, evil)
    marker = tmp_path / "marker.txt"
    (evil / "evil_model.py").write_text(EVIL_MODULE.format(marker=str(marker)))
    config = json.loads((evil / "config.json").read_text())
    config["auto_map"] = {
        "AutoConfig": "evil_model.EvilConfig",
        "AutoModel": "evil_model.EvilModel",
    }
    (evil / "config.json").write_text(json.dumps(config))
    return evil, marker


def test_tampered_folder_runs_no_code(saved, tiny_bert, tmp_path):
    evil, marker = _evil_backbone(tiny_bert, tmp_path)
    model = _tamper(saved, tiny_bert, tmp_path, backbone=str(evil))
    with pytest.raises(ValueError, match=r"custom model code.*trust_remote_code=True"):
        LTuningClassifier.load(model)
    assert not marker.exists()
    assert "evil_model" not in sys.modules


def test_hub_id_in_the_folder_is_refused_without_network(saved, tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = _tamper(saved, tiny_bert, tmp_path, backbone="someone/evil-model")
    with pytest.raises(ValueError, match=r"hub id.*Refused.*backbone='someone/evil-model'"):
        LTuningClassifier.load(model)


def test_caller_can_point_to_their_own_copy(saved, tiny_bert, pairs, tmp_path):
    X, _ = pairs
    copy_dir = tmp_path / "my-copy"
    shutil.copytree(tiny_bert, copy_dir)
    model = _tamper(saved, tiny_bert, tmp_path, backbone="/nowhere/on/this/machine")
    with pytest.raises(ValueError, match="Unknown backbone"):
        LTuningClassifier.load(model)
    loaded = LTuningClassifier.load(model, backbone=copy_dir)
    assert loaded.trust_remote_code is False  # the file's true was not taken
    reference = LTuningClassifier.load(saved)
    assert (loaded.predict_proba(X) == reference.predict_proba(X)).all()


def test_other_weights_are_refused_before_loading(saved, tiny_bert, tmp_path, monkeypatch):
    from tests.conftest import make_tiny_bert

    other = make_tiny_bert(tmp_path / "other", hidden_size=16, num_attention_heads=2)
    from transformers import AutoModel

    def no_load(*args, **kwargs):  # the early check must refuse before this
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(AutoModel, "from_pretrained", no_load)
    with pytest.raises(ValueError, match="weights file SHA-256"):
        LTuningClassifier.load(saved, backbone=other)


def test_stored_trust_remote_code_is_ignored(saved, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(saved, model)
    config = json.loads((model / "config.json").read_text())
    config["params"]["trust_remote_code"] = True
    (model / "config.json").write_text(json.dumps(config))
    assert LTuningClassifier.load(model).trust_remote_code is False


def test_cli_refuses_the_tampered_folder(saved, tiny_bert, tmp_path):
    evil, marker = _evil_backbone(tiny_bert, tmp_path)
    model = _tamper(saved, tiny_bert, tmp_path, backbone=str(evil))
    data = tmp_path / "in.csv"
    data.write_text("premise,hypothesis\na man plays,someone plays\n")
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_ltuning", "predict", "--model", str(model),
         "--input", str(data), "--output", str(tmp_path / "out.csv")],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "--trust-remote-code" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


# ----------------------------------------------------------- property-based
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)  # fmt: skip


def _paths(config, prefix=()):
    """Every field path of a config, nested objects included."""
    for key, value in config.items():
        yield (*prefix, key)
        if isinstance(value, dict) and key != "history":
            yield from _paths(value, (*prefix, key))


@pytest.fixture(scope="module")
def field_paths(saved):
    return sorted(_paths(json.loads((saved / "config.json").read_text())))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_config_gives_a_value_error_or_a_model(saved, field_paths, tmp_path, data):
    folder = Path(tempfile.mkdtemp(dir=tmp_path)) / "model"
    shutil.copytree(saved, folder)
    marker = folder / "imported.txt"
    (folder / "config.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    config = json.loads((saved / "config.json").read_text())
    mutated = copy.deepcopy(config)
    path = data.draw(st.sampled_from(field_paths))
    target = mutated
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()):
        target[path[-1]] = data.draw(JSON_VALUES)
    else:
        del target[path[-1]]
    (folder / "config.json").write_text(json.dumps(mutated))
    try:
        # A mutated but valid config may also warn (e.g. label texts longer than
        # prefix_length): a warning is an acceptable outcome here, not an error. The
        # package warns once per text and process, so raising on it made this test flaky.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            LTuningClassifier.load(folder)
    except ValueError:
        pass
    assert not marker.exists()
    assert "config" not in sys.modules or not getattr(
        sys.modules["config"], "__file__", ""
    ).startswith(str(folder))
