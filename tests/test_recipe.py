"""The training recipe: pair-aware pooling, the bilinear label head, probe start, LR schedule."""

import dataclasses

import numpy as np
import pytest
import torch
from conftest import last_rows_valid, make_pairs

from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.backbones.injection import pool, split_segments
from sklearn_ltuning.backbones.loading import load_backbone
from sklearn_ltuning.callbacks import WarmupLinearDecay
from sklearn_ltuning.inputs import single_text_frame, tokenize
from sklearn_ltuning.methods import METHODS, method_spec
from sklearn_ltuning.plan import LabelSet, Recipe, read_label_set

PREMISES = ["a man plays in the park.", "the dog sleeps."]
HYPOTHESES = ["a man plays.", "nobody sleeps in the house ."]


@pytest.mark.parametrize("arch", ["bert", "roberta", "gpt2", "llama"])
def test_segment_positions_hold_each_text(tiny_backbones, arch):
    # BERT marks segments with token types, RoBERTa makes none, decoders get our own
    # separator: in every case segment 1 holds exactly the premise's tokens and
    # segment 2 the hypothesis's.
    tok = load_backbone(tiny_backbones(arch)).tokenizer
    enc = tokenize(tok, [PREMISES, HYPOTHESES], 64)
    for i, (a, b) in enumerate(zip(PREMISES, HYPOTHESES, strict=True)):
        ids, seg = np.array(enc["input_ids"][i]), np.array(enc["segment_ids"][i])
        assert ids[seg == 1].tolist() == tok(a, add_special_tokens=False)["input_ids"]
        assert ids[seg == 2].tolist() == tok(b, add_special_tokens=False)["input_ids"]
        assert set(seg.tolist()) <= {0, 1, 2}


def test_segments_survive_longest_first_truncation(tiny_bert):
    tok = load_backbone(tiny_bert).tokenizer
    long = " ".join(["a man plays in the park"] * 6)
    enc = tokenize(tok, [[long], ["a cat sleeps ."]], 16)
    seg = np.array(enc["segment_ids"][0])
    assert len(seg) == 16
    assert (seg == 2).sum() == len(tok("a cat sleeps .", add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("arch", ["bert", "roberta", "llama"])
def test_split_segments_frames_each_text_as_a_single_text(tiny_backbones, arch):
    handle = load_backbone(tiny_backbones(arch))
    tok = handle.tokenizer
    enc = tokenize(tok, [PREMISES, HYPOTHESES], 64)
    width = max(len(r) for r in enc["input_ids"])
    ids = torch.tensor([r + [handle.pad_token_id] * (width - len(r)) for r in enc["input_ids"]])
    seg = torch.tensor([r + [0] * (width - len(r)) for r in enc["segment_ids"]])
    out, mask = split_segments(ids, seg, single_text_frame(tok), handle.pad_token_id)
    for row, text in enumerate(PREMISES + HYPOTHESES):
        n = int(mask[row].sum())
        assert out[row, :n].tolist() == tok(text)["input_ids"]
        assert (out[row, n:] == handle.pad_token_id).all()


def test_pool_takes_first_and_last_selected_positions():
    hidden = torch.arange(12.0).view(1, 6, 2)
    mask = torch.tensor([[0, 0, 1, 1, 1, 0]])
    assert pool(hidden, mask, "cls").tolist() == [[4.0, 5.0]]
    assert pool(hidden, mask, "last").tolist() == [[8.0, 9.0]]
    assert pool(hidden, mask, "mean").tolist() == [[6.0, 7.0]]


@pytest.fixture(scope="module")
def handle(tiny_bert):
    return load_backbone(tiny_bert)


def _module(handle, method="lt_prefix", **kwargs):
    texts = ["entailment", "neutral", "contradiction"]
    torch.manual_seed(0)
    labels = read_label_set(handle, texts, texts, prefix_length=4, hidden=True, embed=True)
    return METHODS[method].module(handle, 3, 4, "mean", labels, **kwargs)


def _other(embed):
    """Labels given by their frozen readings only (what the bilinear head reads)."""
    return LabelSet(names=np.arange(len(embed)), texts=("?",) * len(embed), embed=embed)


def _all_scores(module, f, embed=None):
    """The bilinear part of every (row, label) score: (rows, labels)."""
    head = module.head
    n_labels = (head.label_embed if embed is None else embed).shape[0]
    idx = torch.arange(n_labels).repeat(f.shape[0])
    labels = None if embed is None else _other(embed)
    return head.bilinear_scores(f.repeat_interleave(n_labels, 0), idx, labels).view(-1, n_labels)


def test_bilinear_head_adds_f_plus_one_parameters_per_class(handle):
    d = handle.shape.hidden_size
    paper = _module(handle, pair_encoding="joint", head="pair").n_trainable_parameters()
    joint = _module(handle, pair_encoding="joint", head="bilinear").n_trainable_parameters()
    four = _module(handle, pair_encoding="separate", head="bilinear").n_trainable_parameters()
    assert joint - paper == (d + 1) * 3  # R: one column per fitted class (3)
    # four blocks: the pair head reads 4d features (2 x 3d more) and R has 4d + 1 rows
    assert four - paper == (4 * d + 1) * 3 + 2 * 3 * d
    # The zero-shot temperature is saved with the weights but never trained.
    module = _module(handle, pair_encoding="joint", head="bilinear")
    assert "head.zero_shot_scale" in module.state_dict()
    assert "head.zero_shot_scale" not in dict(module.named_parameters())


def test_probe_start_reproduces_the_probe_scores_on_the_fitted_labels(handle):
    module = _module(handle, pair_encoding="separate", head="bilinear")
    rng = np.random.default_rng(0)
    coef, intercept = rng.normal(size=(3, module.n_features)), rng.normal(size=3)
    module.head.set_start(coef, intercept)
    f = torch.randn(5, module.n_features)
    expected = f @ torch.tensor(coef, dtype=torch.float32).T + torch.tensor(intercept).float()
    torch.testing.assert_close(_all_scores(module, f), expected, rtol=1e-4, atol=1e-4)
    # The fitted texts given as new ones read the same.
    torch.testing.assert_close(
        _all_scores(module, f, module.head.label_embed), expected, rtol=1e-4, atol=1e-3
    )


def test_fitted_model_starts_at_the_frozen_probe(tiny_bert):
    # With a learning rate too small to move anything, the fitted classic model
    # predicts what a logistic regression on the same frozen features predicts.
    from sklearn.linear_model import LogisticRegressionCV

    X, y = make_pairs(36)
    clf = LTuningClassifier(
        method="prompt", backbone=tiny_bert, prefix_length=4, max_epochs=1, lr=1e-12,
        random_state=0,
    ).fit(X, y)  # fmt: skip
    module = clf.net_.module_
    enc = tokenize(clf.backbone_.tokenizer, [[a for a, _ in X], [b for _, b in X]], 64)
    from sklearn_ltuning.inputs import pad

    arrays = pad(enc, clf.backbone_.pad_token_id)
    arrays.pop("length")
    with torch.no_grad():
        batch = {k: torch.as_tensor(v) for k, v in arrays.items()}
        features = module.features(**batch).numpy()
    from sklearn_ltuning.heads import PROBE_CS, lrcv_settings, probe_solver

    probe = LogisticRegressionCV(
        Cs=PROBE_CS, cv=3, scoring="neg_log_loss", max_iter=1000,
        solver=probe_solver(features.shape[1], 3), **lrcv_settings(),
    )  # fmt: skip
    probe.fit(features, y)
    np.testing.assert_allclose(module.head.linear.weight.detach().numpy(), probe.coef_, atol=1e-4)
    assert clf.recipe_.head_init == "probe"


def test_recipe_resolution(tiny_bert, tiny_backbones):
    X, y = make_pairs(12)
    default = LTuningClassifier(backbone=tiny_bert, max_epochs=1, prefix_length=4).fit(X, y)
    assert default.recipe_ == Recipe(
        pooling="mean",
        pair_encoding="separate",
        head="bilinear",
        head_init="probe",
        lr_schedule="linear",
        early_stopping=False,  # "auto": too few rows to hold any out
        class_weight=None,
    )
    paper = LTuningClassifier(
        backbone=tiny_bert, max_epochs=1, prefix_length=4, objective="binary"
    ).fit(X, y)
    assert paper.recipe_ == Recipe(
        pooling="mean",
        pair_encoding="joint",
        head="pair",
        head_init="default",
        lr_schedule="constant",
        early_stopping=False,
        class_weight=None,
    )
    texts = LTuningClassifier(backbone=tiny_bert, max_epochs=1, prefix_length=4).fit(
        [a for a, _ in X], y
    )
    assert texts.recipe_.pair_encoding == "joint"
    decoder = LTuningClassifier(
        backbone=tiny_backbones("llama"), max_epochs=1, prefix_length=4
    ).fit(X, y)
    # Decoders get the recipe, read at the last token of the joint pair, the prefix
    # through a zero-initialised gate.
    assert decoder.recipe_ == dataclasses.replace(
        default.recipe_, pooling="last", pair_encoding="joint", prefix_gate=True
    )
    decoder_paper = LTuningClassifier(
        backbone=tiny_backbones("llama"), max_epochs=1, prefix_length=4, objective="binary"
    ).fit(X, y)
    assert decoder_paper.recipe_ == dataclasses.replace(paper.recipe_, pooling="last")


@pytest.mark.parametrize("encoding", ["joint", "cross", "separate"])
def test_every_pair_encoding_fits_and_scores_rows_alone_as_in_a_batch(tiny_bert, encoding):
    X, y = make_pairs(24)
    clf = LTuningClassifier(
        backbone=tiny_bert, max_epochs=1, prefix_length=4, pair_encoding=encoding, random_state=0
    ).fit(X, y)
    proba = clf.predict_proba(X[:4])
    alone = np.vstack([clf.predict_proba([x]) for x in X[:4]])
    np.testing.assert_allclose(proba, alone, rtol=1e-4, atol=1e-5)


def test_warmup_linear_decay_rises_then_falls_to_zero(tiny_bert):
    X, y = make_pairs(48)
    seen = []

    from skorch.callbacks import Callback

    class Spy(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            if training:
                seen.append(net.optimizer_.param_groups[0]["lr"])

    LTuningClassifier(
        method="prefix", backbone=tiny_bert, max_epochs=2, batch_size=4, lr=1e-2,
        prefix_length=4, callbacks=[Spy()], random_state=0,
    ).fit(X, y)  # fmt: skip
    assert len(seen) == 24
    peak = int(np.argmax(seen))
    assert 0 < peak < 5 and seen[peak] == pytest.approx(1e-2)
    assert all(a >= b for a, b in zip(seen[peak:], seen[peak + 1 :], strict=False))
    assert seen[-1] < 1e-3
    schedule = WarmupLinearDecay(warmup=0.1).initialize()
    schedule.total_ = 100
    assert [round(schedule.factor(s), 2) for s in (0, 9, 10, 55, 99)] == [0.1, 1.0, 1.0, 0.5, 0.01]


def test_early_stopping_restores_the_best_evaluated_point(tiny_bert):
    from sklearn.metrics import log_loss

    X, y = make_pairs(48)
    clf = LTuningClassifier(
        backbone=tiny_bert, prefix_length=4, max_epochs=3, batch_size=8, lr=5e-2,
        early_stopping=True, train_split=last_rows_valid(len(X), 12), random_state=0,
    ).fit(X, y)  # fmt: skip
    scores = [s for row in clf.history_ for s in row.get("step_scores", [])]
    assert scores[0]["step"] == 0 and len(scores) >= 6  # the start, then every half epoch
    best = min(scores, key=lambda s: s["valid_loss"])
    assert clf.history_[-1, "best_step"] == best["step"]
    proba = clf.predict_proba(X[-12:])
    assert log_loss(y[-12:], proba, labels=clf.classes_) == pytest.approx(
        best["valid_loss"], rel=1e-4
    )


def test_early_stopping_auto_needs_enough_rows(tiny_bert):
    clf = LTuningClassifier(backbone=tiny_bert)
    shape, spec = load_backbone(tiny_bert).shape, method_spec("lt_prefix")
    classes = np.array(["a", "b", "c"], dtype=object)

    def stopping(params, n):
        return Recipe.resolve(params, spec, shape, 2, classes, classes[np.arange(n) % 3])

    assert stopping(clf, 2400).early_stopping is True
    assert stopping(clf, 48).early_stopping is False
    assert stopping(LTuningClassifier(objective="binary"), 2400).early_stopping is False


def test_probe_started_lt_prefix_barely_moves_the_frozen_features(tiny_bert):
    X, y = make_pairs(24)
    probe = LTuningClassifier(backbone=tiny_bert, prefix_length=4, max_epochs=1).fit(X, y)
    paper = LTuningClassifier(backbone=tiny_bert, prefix_length=4, max_epochs=1, head="pair")
    paper.fit(X, y)
    assert (
        probe.net_.module_.max_initial_shift
        == dict(METHODS["lt_prefix"].probe_start)["max_initial_shift"]
    )
    assert probe.net_.module_.max_initial_shift < 0.3
    assert paper.net_.module_.max_initial_shift == 0.3


def test_epoch_table_leaves_out_the_within_epoch_lists(tiny_bert, capsys):
    X, y = make_pairs(36)
    clf = LTuningClassifier(
        backbone=tiny_bert, prefix_length=4, max_epochs=1, batch_size=8, verbose=1,
        early_stopping=True, train_split=last_rows_valid(len(X), 12), random_state=0,
    ).fit(X, y)  # fmt: skip
    printed = capsys.readouterr().out
    assert "valid_loss" in printed and "step_scores" not in printed
    assert "step_scores" in clf.history_[-1]


def test_zero_shot_start_keeps_the_probe_on_fitted_labels_and_reads_new_ones(handle):
    module = _module(handle, pair_encoding="joint", head="bilinear")
    assert module.head.reads_zero_shot
    d = handle.shape.hidden_size
    rng = np.random.default_rng(0)
    coef, intercept = rng.normal(size=(3, d)), rng.normal(size=3)
    module.head.set_start(coef, intercept, zero_shot_scale=20.0)
    f = torch.randn(5, d)
    # Fitted labels: exactly the probe's scores.
    expected = f @ torch.tensor(coef, dtype=torch.float32).T + torch.tensor(intercept).float()
    torch.testing.assert_close(_all_scores(module, f), expected, rtol=1e-4, atol=1e-3)
    # A label reading orthogonal to the fitted ones: the zero-shot cosine, 20 f.e / sqrt(d).
    embed = module.head.label_embed.float()
    new = torch.randn(d)
    new -= embed.T @ torch.linalg.lstsq(embed.T, new[:, None]).solution[:, 0]
    new /= new.norm()
    torch.testing.assert_close(
        _all_scores(module, f, new[None])[:, 0], 20.0 * (f @ new) / d**0.5, rtol=1e-3, atol=1e-3
    )
    # Without the zero-shot part (or for pair features) that label scores zero.
    plain = _module(handle, pair_encoding="joint", head="bilinear", zero_shot=False)
    plain.head.set_start(coef, intercept, zero_shot_scale=20.0)
    torch.testing.assert_close(
        _all_scores(plain, f, new[None])[:, 0], torch.zeros(5), rtol=0, atol=1e-3
    )
    assert not _module(handle, pair_encoding="separate", head="bilinear").head.reads_zero_shot


def test_training_the_residual_leaves_the_zero_shot_reading_of_new_labels(handle):
    # Only R is trained: whatever it learns, a label text orthogonal to the fitted
    # ones keeps its zero-shot score (the failure this guards against: training W
    # itself let Adam wear that reading down).
    module = _module(handle, pair_encoding="joint", head="bilinear")
    d = handle.shape.hidden_size
    rng = np.random.default_rng(1)
    module.head.set_start(rng.normal(size=(3, d)), rng.normal(size=3), zero_shot_scale=20.0)
    embed = module.head.label_embed.float()
    new = torch.randn(d)
    new -= embed.T @ torch.linalg.lstsq(embed.T, new[:, None]).solution[:, 0]
    new /= new.norm()
    f = torch.randn(6, d)
    before = _all_scores(module, f, new[None])
    fitted_before = _all_scores(module, f).detach()
    optimizer = torch.optim.AdamW([module.head.label_residual], lr=0.1)
    for _ in range(20):
        loss = torch.nn.functional.cross_entropy(_all_scores(module, f), torch.arange(6) % 3)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert (_all_scores(module, f) - fitted_before).abs().max() > 1.0  # training moved R
    torch.testing.assert_close(_all_scores(module, f, new[None]), before, rtol=1e-4, atol=1e-3)


def test_zero_shot_temperature_fits_the_training_labels():
    from sklearn_ltuning.heads import ZERO_SHOT_TEMPERATURES, zero_shot_temperature

    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, 200)
    cosine = rng.normal(0, 0.05, (200, 3))
    cosine[np.arange(200), targets] += 0.1  # informative: a large temperature fits
    informative = zero_shot_temperature(cosine, targets)
    noise = zero_shot_temperature(rng.normal(0, 0.05, (200, 3)), targets)
    assert informative > 10 * noise
    assert ZERO_SHOT_TEMPERATURES[0] <= noise <= informative <= ZERO_SHOT_TEMPERATURES[-1]


def test_interpolation_keeps_the_best_mix_of_start_and_best_point(tiny_bert):
    from sklearn.metrics import log_loss

    X, y = make_pairs(48)
    clf = LTuningClassifier(
        backbone=tiny_bert, prefix_length=4, max_epochs=3, batch_size=8, lr=5e-2,
        early_stopping=True, train_split=last_rows_valid(len(X), 12), random_state=0,
        net_kwargs={"callbacks__keep_best__interpolate": (0.25, 0.5, 0.75)},
    ).fit(X, y)  # fmt: skip
    scores = [s for row in clf.history_ for s in row.get("step_scores", [])]
    best = min(s["valid_loss"] for s in scores)
    mix = clf.history_[-1, "best_mix"]
    assert mix in (0.25, 0.5, 0.75, 1.0)
    kept = log_loss(y[-12:], clf.predict_proba(X[-12:]), labels=clf.classes_)
    assert kept <= best + 1e-4  # never worse than the best evaluated point


def test_prefix_dropout_acts_in_training_only(tiny_bert):
    handle = load_backbone(tiny_bert)
    texts = ["entailment", "neutral", "contradiction"]
    labels = read_label_set(handle, texts, texts, prefix_length=4, hidden=True, embed=True)
    module = METHODS["lt_prefix"].module(handle, 3, 4, "mean", labels, prefix_dropout=0.5)
    idx = torch.tensor([0, 1])
    module.train()
    assert not torch.equal(module.virtual_tokens(2, idx), module.virtual_tokens(2, idx))
    module.eval()
    torch.testing.assert_close(module.virtual_tokens(2, idx), module.virtual_tokens(2, idx))


@pytest.mark.parametrize("select", ["accuracy", "calibrated"])
def test_early_stopping_can_select_by_accuracy_or_calibrated_loss(tiny_bert, select):
    X, y = make_pairs(48)
    clf = LTuningClassifier(
        backbone=tiny_bert, prefix_length=4, max_epochs=3, batch_size=8, lr=5e-2,
        early_stopping=True, train_split=last_rows_valid(len(X), 12), random_state=0,
        net_kwargs={"callbacks__keep_best__select": select},
    ).fit(X, y)  # fmt: skip
    scores = [s for row in clf.history_ for s in row.get("step_scores", [])]
    if select == "accuracy":
        best = min(scores, key=lambda s: (1 - s["valid_acc"], s["valid_loss"]))
    else:
        best = min(scores, key=lambda s: (s["valid_loss_calibrated"], s["valid_loss"]))
        assert all(s["valid_loss_calibrated"] <= s["valid_loss"] + 1e-9 for s in scores)
    assert clf.history_[-1, "best_step"] == best["step"]


def test_calibrated_log_loss_is_the_best_temperature_s():
    from sklearn_ltuning.callbacks import calibrated_log_loss

    scores = np.array([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
    targets = np.array([0, 1, 1])  # one confident mistake
    plain = -np.log(np.exp(scores[[0, 1, 2], targets]) / np.exp(scores).sum(1)).mean()
    assert calibrated_log_loss(scores, targets) < plain  # a higher temperature fits better


@pytest.mark.parametrize(
    "train_split, steps",
    [
        # A predefined split: 60 of 100 rows train, batch 8, so 8 steps an epoch and a
        # check every 4. (Counted on all 100 rows it was every 7: 0, 7, 14, 16.)
        (last_rows_valid(100, 40), [0, 4, 8, 12, 16]),
        # validation_fraction=0.1: 90 training rows, 12 steps an epoch, every 6.
        (None, [0, 6, 12, 18, 24]),
    ],
)
def test_early_stopping_checks_every_half_epoch_of_the_training_part(tiny_bert, train_split, steps):
    X, y = make_pairs(100)
    clf = LTuningClassifier(
        backbone=tiny_bert, prefix_length=4, max_epochs=2, batch_size=8, lr=1e-2,
        early_stopping=True, train_split=train_split, random_state=0,
    ).fit(X, y)  # fmt: skip
    scores = [s for row in clf.history_ for s in row.get("step_scores", [])]
    assert [s["step"] for s in scores] == steps
