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
    assert any(line.startswith("frozen+LR") for line in lines)


def test_errors_are_one_line_without_traceback():
    out = run("demo", "--backbone", "no-such-backbone")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("sklearn-ltuning: error: Unknown backbone")
    assert len(out.stderr.strip().splitlines()) == 1
