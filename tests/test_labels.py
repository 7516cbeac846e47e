"""Label texts: resolution from the label_texts argument, tokenization, encoding once."""

import warnings

import numpy as np
import pytest

from sklearn_ltuning import labels
from sklearn_ltuning.labels import encode_labels, label_token_ids, resolve_label_texts


def test_default_texts_are_class_names_made_readable():
    assert resolve_label_texts(None, ["entailment", "not_entailment"]) == [
        "entailment",
        "not entailment",
    ]
    assert resolve_label_texts(None, [0, 1]) == ["0", "1"]


def test_template_and_dict():
    classes = ["neg", "pos"]
    assert resolve_label_texts("It is {label}.", classes) == ["It is neg.", "It is pos."]
    texts = resolve_label_texts({"pos": "positive text", "neg": "negative text"}, classes)
    assert texts == ["negative text", "positive text"]
    # Integer classes may be keyed by their string form.
    assert resolve_label_texts({"0": "zero", "1": "one"}, [0, 1]) == ["zero", "one"]


@pytest.mark.parametrize(
    "label_texts, error, match",
    [
        ({"pos": "positive"}, ValueError, r"no text for classes \['neg'\]"),
        ({"pos": "p", "neg": "n", "meh": "m"}, ValueError, r"not in y"),
        ({"pos": "p", "neg": "  "}, ValueError, "empty"),
        ({"pos": "same", "neg": "same"}, ValueError, "same text"),
        ({"pos": 1, "neg": "n"}, TypeError, "must be a str"),
        ("no placeholder", ValueError, "template"),
        ("{label} {other}", ValueError, "placeholder"),
        (["a", "b"], TypeError, "dict"),
    ],
)
def test_bad_label_texts(label_texts, error, match):
    with pytest.raises(error, match=match) as info:
        resolve_label_texts(label_texts, ["neg", "pos"])
    assert "label_texts" in str(info.value)


def test_label_tokens_are_padded_with_dots_or_cut(tiny_bert):
    from sklearn_ltuning.backbones.loading import load_backbone

    tok = load_backbone(tiny_bert).tokenizer
    dot = tok.convert_tokens_to_ids(".")
    ids = label_token_ids(tok, ["positive", "negative"], 5)
    assert all(len(r) == 5 for r in ids)
    assert ids[0][3:] == [dot, dot]  # [CLS] positive [SEP] . .
    with pytest.warns(UserWarning, match=r"from its first 3 tokens only \('the movie'\)") as seen:
        label_token_ids(tok, ["the movie is good", "bad"], 3)
    assert "prefix_length >= 6" in str(seen[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same situation again: no second warning
        label_token_ids(tok, ["the movie is good", "bad"], 3)
    with pytest.raises(ValueError, match="identical in their first 3 tokens"):
        with pytest.warns(UserWarning, match="'the movie is bad'"):
            label_token_ids(tok, ["the movie is good", "the movie is bad"], 3)


def test_label_encodings_are_computed_once_per_backbone_and_texts(tiny_bert, label_reads):
    from sklearn_ltuning.backbones.loading import load_backbone

    handle = load_backbone(tiny_bert)
    calls = label_reads
    a = encode_labels(handle, ["sport news", "science news"], 6)
    b = encode_labels(handle, ["sport news", "science news"], 6)
    assert calls == [2]
    assert a is b
    assert tuple(a.shape) == (2, 6, handle.shape.hidden_size)
    assert not a.requires_grad


def test_label_encoding_cache_is_bounded(tiny_bert, monkeypatch, label_reads):
    from sklearn_ltuning.backbones.loading import load_backbone

    handle = load_backbone(tiny_bert)
    monkeypatch.setattr(labels, "ENCODED_CACHE_SIZE", 3)
    calls = label_reads
    for i in range(6):
        encode_labels(handle, [f"{i} news", "sport"], 4)
    assert len(labels._ENCODED) <= 3
    encode_labels(handle, ["5 news", "sport"], 4)  # the most recent one is still kept
    assert len(calls) == 6
    encode_labels(handle, ["0 news", "sport"], 4)  # the oldest was dropped: read again
    assert len(calls) == 7


@pytest.mark.parametrize(
    "names",
    [
        ["a\x00", "b"],  # a trailing NUL: dropped by fixed-width numpy strings
        ["a", "a\x00"],  # two classes that differ only by it
        ["e\u0301", "\u00e9"],  # a combining accent and the precomposed letter
        ["1", "01"],  # digit strings that are equal as numbers
    ],
    ids=["trailing-nul", "nul-apart", "combining", "digits"],
)
def test_class_names_keep_their_exact_value_through_fit_predict_save_load(
    tiny_bert, texts, tmp_path, names
):
    from sklearn_ltuning import LTuningClassifier

    X, y = texts
    y = [names[0] if v == "positive" else names[1] for v in y]
    clf = LTuningClassifier(
        backbone=tiny_bert,
        prefix_length=4,
        max_epochs=1,
        random_state=0,
        label_texts={names[0]: "good", names[1]: "bad"},
    ).fit(X, y)
    assert list(clf.classes_) == sorted(names) and clf.classes_.dtype == object
    assert clf.label_texts_ == ["good" if c == names[0] else "bad" for c in clf.classes_]
    assert set(clf.predict(X)) <= set(names)
    loaded = LTuningClassifier.load(clf.save(tmp_path / "m"))
    assert list(loaded.classes_) == list(clf.classes_)
    assert loaded.label_texts == clf.label_texts
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
