"""The sklearn-ltuning command line, run as a user would (subprocess)."""

import subprocess
import sys


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "sklearn_ltuning", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={"HF_HUB_OFFLINE": "1", "PATH": ""},
    )


def test_help():
    out = run("--help")
    assert out.returncode == 0 and "demo" in out.stdout
    out = run("demo", "--help")
    assert out.returncode == 0 and "--n-train" in out.stdout


def test_demo_on_a_tiny_backbone(tiny_bert):
    out = run(
        "demo",
        "--backbone",
        tiny_bert,
        "--n-train",
        "60",
        "--n-test",
        "30",
        "--epochs",
        "1",
        "--prefix-length",
        "4",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("lt_prefix") for line in lines)
    assert any(line.startswith("prefix") for line in lines)
    assert any(line.startswith("majority") for line in lines)
    # The anchor is the tuned probe, named in the table, the legend and the verdict.
    assert any(line.startswith("frozen+LRCV ") for line in lines)
    legend = next(line for line in lines if line.startswith("majority: always predict"))
    assert "frozen+LRCV: the tuned frozen-embedding probe" in legend
    assert "LogisticRegressionCV" in legend
    verdict = next(line for line in lines if line.startswith("Verdict: "))
    assert "against frozen+LRCV" in verdict
    assert any(line.startswith("[1/2] training lt_prefix") for line in lines)  # progress


def test_demo_verdict_compares_against_the_tuned_probe():
    from sklearn_ltuning.cli import demo_verdict

    rows = [("lt_prefix", 0.70), ("prefix", 0.65)]
    line = demo_verdict(rows, anchor=0.66, majority=0.34)
    assert line == (
        "Verdict: lt_prefix is best at 0.700, +0.040 against frozen+LRCV and +0.050 against prefix."
    )
    level = demo_verdict(rows, anchor=0.70, majority=0.34)
    assert level.endswith("no tuned method beats the tuned frozen-embedding probe (frozen+LRCV).")


def test_errors_are_one_line_without_traceback():
    out = run("demo", "--backbone", "no-such-backbone")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("sklearn-ltuning: error: Unknown backbone")
    assert len(out.stderr.strip().splitlines()) == 1


def _write_pairs(path, n=24, with_id=True):
    import pandas as pd
    from conftest import make_pairs

    X, y = make_pairs(n)
    frame = pd.DataFrame(X, columns=["premise", "hypothesis"])
    frame["label"] = y
    if with_id:
        frame.insert(0, "id", [f"row-{i}" for i in range(n)])
    frame.to_csv(path, index=False)
    return frame


def test_fit_predict_evaluate_round_trip(tiny_bert, tmp_path):
    import pandas as pd

    train = _write_pairs(tmp_path / "train.csv")
    out = run(
        "fit",
        "--train",
        str(tmp_path / "train.csv"),
        "--out",
        str(tmp_path / "model"),
        "--backbone",
        tiny_bert,
        "--prefix-length",
        "4",
        "--epochs",
        "1",
        "--quiet",
        "--valid",
        str(tmp_path / "train.csv"),
    )
    assert out.returncode == 0, out.stderr
    assert "validation: accuracy" in out.stdout
    assert (tmp_path / "model" / "model.safetensors").is_file()

    shuffled = train.sample(frac=1.0, random_state=1)
    shuffled.to_csv(tmp_path / "input.csv", index=False)
    out = run(
        "predict",
        "--model",
        str(tmp_path / "model"),
        "--input",
        str(tmp_path / "input.csv"),
        "--output",
        str(tmp_path / "pred.csv"),
        "--proba",
    )
    assert out.returncode == 0, out.stderr
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred["id"]) == list(shuffled["id"])  # the input's row order and ids
    probas = pred[[c for c in pred.columns if c.startswith("proba_")]]
    assert probas.shape[1] == 3
    assert abs(probas.sum(axis=1) - 1).max() < 1e-6

    out = run(
        "evaluate", "--model", str(tmp_path / "model"), "--input", str(tmp_path / "input.csv")
    )
    assert out.returncode == 0, out.stderr
    for word in ("accuracy", "macro_f1", "mcc", "majority class", "precision", "recall"):
        assert word in out.stdout
    # the majority-class column: 8 of 24 rows per class in this file
    accuracy_row = next(line for line in out.stdout.splitlines() if line.startswith("accuracy"))
    assert accuracy_row.split()[-1] == f"{8 / 24:.4f}"


def test_single_text_files_in_jsonl(tiny_bert, tmp_path):
    import json

    from conftest import make_texts

    X, y = make_texts(20)
    with open(tmp_path / "train.jsonl", "w", encoding="utf-8") as fh:
        for text, label in zip(X, y, strict=True):
            fh.write(json.dumps({"text": text, "label": label}) + "\n")
    out = run(
        "fit",
        "--train",
        str(tmp_path / "train.jsonl"),
        "--text-cols",
        "text",
        "--out",
        str(tmp_path / "m"),
        "--backbone",
        tiny_bert,
        "--prefix-length",
        "4",
        "--epochs",
        "1",
        "--quiet",
    )
    assert out.returncode == 0, out.stderr


def test_file_errors_are_one_line(tiny_bert, tmp_path):
    _write_pairs(tmp_path / "train.csv")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "latin1.csv").write_bytes(
        "premise,hypothesis,label\ncaf\xe9,x,y\n".encode("latin-1")
    )
    cases = {
        "missing column": ["--train", str(tmp_path / "train.csv"), "--label-col", "gold"],
        "empty file": ["--train", str(tmp_path / "empty.csv")],
        "bad encoding": ["--train", str(tmp_path / "latin1.csv")],
        "no such file": ["--train", str(tmp_path / "nope.csv")],
    }
    expected = {
        "missing column": "missing column",
        "empty file": "empty",
        "bad encoding": "UTF-8",
        "no such file": "no such file",
    }
    for name, args in cases.items():
        out = run("fit", *args, "--out", str(tmp_path / "m"), "--backbone", tiny_bert, "--quiet")
        assert out.returncode == 2, name
        assert "Traceback" not in out.stderr, name
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and expected[name] in lines[0], (name, lines)


def test_every_constructor_parameter_is_reachable_or_explained():
    from sklearn_ltuning import LTuningClassifier
    from sklearn_ltuning.cli import NOT_ON_THE_COMMAND_LINE, TRAINING_OPTIONS

    flagged = {param for _, param, _, _ in TRAINING_OPTIONS}
    assert flagged.isdisjoint(NOT_ON_THE_COMMAND_LINE)
    assert flagged | set(NOT_ON_THE_COMMAND_LINE) == set(LTuningClassifier().get_params())


def test_help_shows_defaults_and_choices():
    out = run("fit", "--help")
    assert out.returncode == 0
    for text in (
        "--objective {binary,softmax}",
        "(default: softmax)",
        "--pair-encoding",
        "(default: minilm-l6)",
        "--label-texts",
        "--max-length",
        "(default: 128)",
    ):
        assert text in " ".join(out.stdout.split()), text  # fmt: skip
    out = run("predict", "--help")
    assert "--trust-remote-code" in out.stdout and "(default: False)" in out.stdout


def test_fit_options_reach_the_estimator(tiny_bert, tmp_path):
    import json

    _write_pairs(tmp_path / "train.csv")
    out = run(
        "fit", "--train", str(tmp_path / "train.csv"), "--out", str(tmp_path / "model"),
        "--backbone", tiny_bert, "--prefix-length", "5", "--epochs", "1", "--quiet",
        "--objective", "binary", "--pair-encoding", "cross", "--max-length", "40",
        "--label-texts", '{"entailment": "good", "neutral": "happy", "contradiction": "bad"}',
        "--seed", "3", "--lr", "0.002", "--class-weight", '{"neutral": 2}',
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    params = json.loads((tmp_path / "model" / "config.json").read_text())["params"]
    assert params["objective"] == "binary" and params["pair_encoding"] == "cross"
    assert params["prefix_length"] == 5 and params["max_length"] == 40
    assert params["random_state"] == 3 and params["lr"] == 0.002
    assert params["label_texts"]["__pairs__"] == [
        ["entailment", "good"], ["neutral", "happy"], ["contradiction", "bad"]
    ]  # fmt: skip
    assert params["class_weight"] == {"__pairs__": [["neutral", 2]]}
    bad = run("fit", "--train", str(tmp_path / "train.csv"), "--class-weight", "heavy")
    assert bad.returncode == 2 and "--class-weight: must be balanced, none or a JSON" in bad.stderr
