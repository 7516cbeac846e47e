"""The results page's tables are built from result files: the chosen rate, seeds, gaps."""

import json

from benchmarks.reproduce import DECODER_COLUMNS, lead_table


def _write(folder, method, accuracy, *, lr=None, seed=None, valid_acc=None, dataset="sick"):
    record = {
        "dataset": dataset,
        "backbone": "smollm2-135m",
        "n_train": 800,
        "n_test": 1000,
        "method": method,
        "lr": lr,
        "seed": seed,
        "accuracy": accuracy,
        "mcc": 0.0,
        "valid_acc": valid_acc,
        "valid_loss": 0.5,
        "n_params": 10,
        "fit_s": 1.0,
        "predict_s": 1.0,
        "status": "ok",
    }
    name = f"{dataset}__{method.replace(':', '-')}__{lr}__{seed}.json"
    (folder / name).write_text(json.dumps(record))


def test_decoder_table_reads_the_chosen_rate_and_its_seeds(tmp_path):
    _write(tmp_path, "frozen_lrcv", 0.75)
    _write(tmp_path, "majority", 0.54)
    # Two rates for LT-prefix: 1e-3 wins on validation (seed 0), so its seeds make the cell
    # and the other rate's better *test* figure is not read.
    _write(tmp_path, "lt_prefix:gate10", 0.70, lr=1e-3, seed=0, valid_acc=0.8)
    _write(tmp_path, "lt_prefix:gate10", 0.80, lr=1e-3, seed=1, valid_acc=0.8)
    _write(tmp_path, "lt_prefix:gate10", 0.99, lr=5e-3, seed=0, valid_acc=0.6)
    table = lead_table([tmp_path], DECODER_COLUMNS).splitlines()
    assert table[0].split(" | ")[2:] == [title for _, title in DECODER_COLUMNS[:-1]] + [
        "majority |"
    ]
    (row,) = [line for line in table if line.startswith("| SICK")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:5] == ["SICK", "800", "0.750", "0.750 ± 0.050", "not run"]
    assert cells[-1] == "0.540"
    assert cells.count("not run") == 8


def test_decoder_table_leaves_out_datasets_without_results(tmp_path):
    _write(tmp_path, "majority", 0.5, dataset="sst2")
    table = lead_table([tmp_path], DECODER_COLUMNS)
    assert "| SST-2 |" in table and "| SICK |" not in table and "| RTE |" not in table


def test_learning_curve_reads_full_set_points_from_reproduce_results(tmp_path):
    from benchmarks.learning_curve import full_set_points

    _write(tmp_path, "lt_prefix:recipe", 0.84, lr=1e-3, seed=0)
    _write(tmp_path, "lt_prefix:recipe", 0.10, lr=1e-3, seed=1)  # only seed 0 is read
    _write(tmp_path, "lt_prompt:recipe", 0.20, lr=1e-3, seed=0)  # not a curve method
    _write(tmp_path, "frozen_lrcv", 0.85)
    _write(tmp_path, "frozen_lrcv", 0.30, dataset="rte")  # not a curve dataset
    rows = full_set_points(tmp_path, {"sick"}, backbone="smollm2-135m")
    assert sorted((r["method"], r["accuracy"], r["n_train"]) for r in rows) == [
        ("frozen_lrcv", 0.85, 800),
        ("lt_prefix", 0.84, 800),
    ]
    assert full_set_points(tmp_path, {"sick"}, backbone="minilm-l6") == []


def test_many_labels_report_gives_each_seed_and_the_shortlist_gap(tmp_path):
    from benchmarks.many_labels import report_text

    def write(name, **record):
        (tmp_path / f"{name}.json").write_text(json.dumps({"status": "ok", **record}))

    for seed, acc in enumerate([0.80, 0.84, 0.82]):
        write(f"t{seed}", part="table", method="lt_prefix", per_class=10, seed=seed, accuracy=acc)
    write("p", part="table", method="frozen_lrcv", per_class=10, seed=0, accuracy=0.81)
    write("f", part="table", method="frozen_lrcv", per_class="full", seed=0, accuracy=0.9)
    write("e", part="table", method="lt_prefix", per_class=10, seed=0, accuracy=0.0)
    (tmp_path / "e.json").write_text(json.dumps({"status": "error", "part": "table"}))
    write(
        "s",
        part="shortlist",
        by_shortlist={
            "None": {"accuracy": 0.85, "predict_s": 9.0},
            "8": {"accuracy": 0.846, "predict_s": 1.0},
        },
    )
    text = report_text(tmp_path)
    lt = next(line for line in text.splitlines() if line.startswith("| lt_prefix"))
    assert lt == "| lt_prefix | not run | 0.820 ± 0.016 [0.800, 0.840, 0.820] | not run |"
    probe = next(line for line in text.splitlines() if line.startswith("| frozen_lrcv"))
    assert probe == "| frozen_lrcv | not run | 0.810 | 0.900 |"
    assert "| all (exhaustive) | 0.850 | +0.000 | 9.0 |" in text
    assert "| 8 | 0.846 | -0.004 | 1.0 |" in text


def test_every_variant_and_anchor_has_a_table_label():
    from benchmarks.reproduce import ANCHORS, LABELS, VARIANTS

    assert set(VARIANTS) | set(ANCHORS) <= set(LABELS)


def test_report_tables_keep_a_variant_this_version_does_not_know(tmp_path):
    # A results folder filled by a newer version (another worktree, a later checkout) holds
    # variants this one has no label or plot style for: the report lists them by name, last,
    # instead of dropping them or stopping on a KeyError.
    from benchmarks.reproduce import load_results, plot_curves, summarise, tables

    _write(tmp_path, "lt_prefix:recipe", 0.80, lr=1e-3, seed=0, valid_acc=0.8)
    _write(tmp_path, "lt_prefix:future", 0.81, lr=1e-3, seed=0, valid_acc=0.8)
    results = load_results(tmp_path)
    text, _ = tables(results)
    rows = [
        line for line in text.splitlines() if line.startswith("| LT-prefix") or "future" in line
    ]
    assert rows[-1].startswith("| lt_prefix:future | 0.810 |")
    assert len(rows) == 2
    for r in results:
        r["curve"] = {"step": [0, 1], "valid_loss": [1.0, 0.5], "valid_acc": [0.5, 0.8]}
    (plot,) = plot_curves(results, summarise(results), tmp_path / "plots")
    assert plot.name == "convergence_sick_smollm2-135m.png"
