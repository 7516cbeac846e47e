"""StepValidation, convergence curves and the plots: rendered to PNG and checked for content."""

import numpy as np
import pytest
import torch
from conftest import last_rows_valid
from sklearn.metrics import ConfusionMatrixDisplay, log_loss

from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.callbacks import StepValidation, convergence_curve

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from sklearn_ltuning.plotting import (  # noqa: E402
    label_similarity,
    plot_convergence,
    plot_label_similarity,
    plot_training_curves,
)


def make(tiny_bert, **kwargs):
    params = dict(
        backbone=tiny_bert, prefix_length=4, max_epochs=2, batch_size=8, random_state=0, lr=1e-2
    )
    params.update(kwargs)
    return LTuningClassifier(**params)


@pytest.fixture(scope="module")
def stepped(tiny_bert, pairs):
    X, y = pairs
    # The paper's zero-initialised pair head, so step 0 sits exactly at chance (log K).
    return make(
        tiny_bert,
        method="lt_prefix",
        head="pair",
        train_split=last_rows_valid(len(X), 12),
        callbacks=[StepValidation(2)],
    ).fit(X, y)


def _png_has_content(fig, path):
    fig.savefig(path, dpi=60)
    plt.close(fig)
    image = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert image.shape[0] > 50 and image.shape[1] > 50
    # Not a blank canvas: many grey levels and a real spread of pixel values.
    assert len(np.unique(image)) > 20
    assert image.std() > 10


def test_step_validation_records_points_within_epochs(stepped, pairs):
    X, y = pairs
    # 36 training rows, batch 8: 5 steps per epoch, 10 in all; every 2 steps + step 0.
    scores = [s for row in stepped.history_ for s in row.get("step_scores", [])]
    assert [s["step"] for s in scores] == [0, 2, 4, 6, 8, 10]
    # Step 0: the zero-initialised pair head scores every label alike: log-loss log(K).
    assert scores[0]["valid_loss"] == pytest.approx(np.log(3), abs=1e-5)
    # The last point is the fitted model's K-way log-loss on the validation rows.
    proba = stepped.predict_proba(X[-12:])
    assert scores[-1]["valid_loss"] == pytest.approx(
        log_loss(y[-12:], proba, labels=stepped.classes_), rel=1e-4
    )
    assert scores[-1]["valid_acc"] == pytest.approx(np.mean(stepped.predict(X[-12:]) == y[-12:]))
    curve = convergence_curve(stepped.history_)
    assert list(curve["step"]) == [0, 2, 4, 5, 6, 8, 10]
    assert curve["valid_loss"][-1] == pytest.approx(stepped.history_[-1, "valid_loss"], rel=1e-5)


def test_step_validation_does_not_change_training(tiny_bert, pairs, stepped):
    X, y = pairs
    plain = make(
        tiny_bert, method="lt_prefix", head="pair", train_split=last_rows_valid(len(X), 12)
    )
    plain.fit(X, y)
    for a, b in zip(
        plain.net_.module_.state_dict().values(),
        stepped.net_.module_.state_dict().values(),
        strict=True,
    ):
        torch.testing.assert_close(a, b)


def test_step_validation_rejects_bad_every():
    with pytest.raises(ValueError, match="every"):
        StepValidation(every=0).initialize()
    with pytest.raises(TypeError, match="every"):
        StepValidation(every=1.5).initialize()
    with pytest.raises(ValueError, match="per_epoch"):
        StepValidation(per_epoch=0).initialize()


def test_convergence_curve_needs_validation(tiny_bert, pairs):
    X, y = pairs
    clf = make(tiny_bert, method="prompt", max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="train_split"):
        convergence_curve(clf.history_)


def test_training_curves_png(stepped, tmp_path):
    ax = plot_training_curves(stepped)
    # train loss, valid loss, the chance line; accuracy on the twin axis
    assert len(ax.get_lines()) == 3 and len(ax.acc_ax.get_lines()) == 1
    _png_has_content(ax.figure, tmp_path / "curves.png")


def test_convergence_plot_of_several_estimators(tiny_bert, pairs, stepped, tmp_path):
    X, y = pairs
    other = make(
        tiny_bert,
        method="prefix",
        train_split=last_rows_valid(len(X), 12),
        callbacks=[StepValidation(2)],
    ).fit(X, y)
    ax = plot_convergence({"LT-prefix": stepped, "prefix": other})
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["LT-prefix", "prefix", "chance (log 3 = 1.099)"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [0, 2, 4, 5, 6, 8, 10])
    _png_has_content(ax.figure, tmp_path / "convergence.png")
    acc_ax = plot_convergence({"prefix": other.history_}, metric="valid_acc")
    assert acc_ax.get_ylabel() == "validation accuracy"
    plt.close(acc_ax.figure)
    with pytest.raises(ValueError, match="metric"):
        plot_convergence({"a": stepped}, metric="accuracy")
    with pytest.raises(TypeError, match="dict"):
        plot_convergence([stepped])


def test_label_similarity_heatmap(stepped, tmp_path):
    sim = label_similarity(stepped)
    assert sim.shape == (3, 3)
    np.testing.assert_allclose(np.diag(sim), 1.0, rtol=1e-5)
    np.testing.assert_allclose(sim, sim.T, atol=1e-6)
    # Distinct label texts give distinct prefixes (float32 cosines are exact to ~1e-7;
    # training grows a shared component, so trained labels are close but not equal).
    assert np.all(sim[~np.eye(3, dtype=bool)] < 1 - 1e-6), sim
    ax = plot_label_similarity(stepped)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(stepped.classes_)
    _png_has_content(ax.figure, tmp_path / "similarity.png")


def test_label_similarity_lt_prompt_and_refusal_for_classic(tiny_bert, pairs):
    X, y = pairs
    clf = make(tiny_bert, method="lt_prompt", max_epochs=1).fit(X, y)
    assert label_similarity(clf).shape == (3, 3)
    classic = make(tiny_bert, method="prefix", max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="lt_prefix"):
        label_similarity(classic)


def test_confusion_matrix_display_on_predictions(stepped, pairs, tmp_path):
    X, y = pairs
    disp = ConfusionMatrixDisplay.from_estimator(stepped, X, y)
    assert disp.confusion_matrix.sum() == len(y)
    assert list(disp.display_labels) == list(stepped.classes_)
    _png_has_content(disp.figure_, tmp_path / "confusion.png")


def test_plots_carry_titles_units_and_a_chance_line(stepped, tiny_bert, pairs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for ax in (plot_training_curves(stepped), plot_convergence({"LT-prefix": stepped})):
        assert ax.get_title()
        assert "(nats)" in ax.get_ylabel()
        chance = [line for line in ax.lines if line.get_linestyle() == "--"]
        assert len(chance) == 1
        assert chance[0].get_ydata()[0] == pytest.approx(np.log(3))
        assert any("chance" in t.get_text() for t in ax.get_legend().get_texts())
        plt.close(ax.figure)


def test_heatmap_numbers_contrast_with_their_cells(stepped):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_label_similarity(stepped)
    image = ax.images[0]
    for text in ax.texts:
        value = float(text.get_text())
        red, green, blue, _ = image.cmap(image.norm(value))
        light = 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.45
        assert text.get_color() == ("black" if light else "white")
    # viridis at +1 (the diagonal) is yellow: black numbers there
    assert ax.texts[0].get_color() == "black"
    plt.close(ax.figure)
