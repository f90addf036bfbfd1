"""The analysis commands: info with the profile, rf, erf, arith, explain."""

from __future__ import annotations

import json

import pytest

from helpers import assert_one_line_error, run_cli as run

from convzoo.cli import main


def test_info_profiles_the_model(capsys):
    code, out, _ = run(capsys, "info", "resnet50")
    assert code == 0
    assert "4,089,184,256" in out and "FLOPs = 2 x MACs" in out and "25,557,032" in out
    code, out, _ = run(capsys, "info", "lenet5", "--layers")
    assert code == 0 and "c3" in out and "240,000" in out


def test_info_json_has_the_profile(capsys):
    code, out, _ = run(capsys, "info", "vgg16", "--json")
    card = json.loads(out)
    assert code == 0 and card["profile"]["macs"] == pytest.approx(15.47e9, rel=0.02)


def test_rf(capsys):
    code, out, _ = run(capsys, "rf", "vgg16")
    assert code == 0 and "212" in out.splitlines()[-2] and "32" in out.splitlines()[-2]
    code, out, _ = run(capsys, "rf", "alexnet", "--json")
    assert code == 0 and json.loads(out)


def test_erf_writes_a_heatmap(capsys, tmp_path):
    code, out, _ = run(capsys, "erf", "resnet18", "--input", "3x64x64", "--samples", "2", "--out", str(tmp_path / "e.png"))
    assert code == 0 and "ERF radius" in out and (tmp_path / "e.png").stat().st_size > 0


def test_erf_needs_a_model(capsys):
    code, _, err = run(capsys, "erf")
    assert code == 2 and err.startswith("convzoo: error: give a MODEL")


def test_arith_and_explain(capsys):
    code, out, _ = run(capsys, "arith", "--in", "5", "--kernel", "3", "--stride", "2", "--padding", "1")
    assert code == 0 and out.strip().endswith("= 3")
    code, out, _ = run(capsys, "arith", "--in", "3", "--kernel", "3", "--stride", "2", "--transposed")
    assert code == 0 and out.strip().endswith("= 7")
    code, out, _ = run(capsys, "explain", "bottleneck")
    assert code == 0 and "589,824" in out and "81,920" in out
    code, _, err = run(capsys, "explain", "nonsense")
    assert code == 2 and "the topics are" in err


def test_receptive_field_doc_matches_the_library():
    import runpy
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    table = runpy.run_path(str(root / "docs/scripts/rf_table.py"))["rf_table"]()
    assert table in (root / "docs/receptive-fields.md").read_text()


def test_compare(capsys, tmp_path):
    code, out, _ = run(capsys, "compare", "resnet18", "vgg11", "--input", "3x64x64")
    assert code == 0 and "resnet18" in out and "vgg11" in out and "FLOPs = 2 x MACs" in out
    code, out, _ = run(capsys, "compare", "lenet5", "alexnet", "--latency", "--repeats", "2",
                       "--input", "3x64x64", "--plot", str(tmp_path / "c.png"))
    assert code == 0 and "images/s" in out and (tmp_path / "c.png").stat().st_size > 0
    code, _, err = run(capsys, "compare", "resnet18", "--plot", "x.png")
    assert code == 2 and "add --latency" in err
    code, _, err = run(capsys, "compare", "resnet05")
    assert code == 2 and "did you mean" in err


def test_erf_of_a_trained_checkpoint_on_dataset_images(capsys, tmp_path):
    assert main(["train", "lenet5", "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    code, out, err = run(capsys, "erf", "--checkpoint", str(tmp_path / "run"), "--dataset", "digits",
                         "--samples", "4", "--stage", "1", "--out", str(tmp_path / "erf.png"))
    assert code == 0, err
    assert out.startswith("lenet5: ERF radius") and "of RF/2 (16)" in out


@pytest.mark.parametrize(
    "argv, smallest",
    [
        (("rf", "vgg11", "--input", "3x16x16"), "32x32"),
        (("rf", "inception_v3", "--input", "3x32x32"), "75x75"),
        (("erf", "googlenet", "--input", "3x8x8", "--samples", "1"), "15x15"),
    ],
)
def test_rf_and_erf_of_an_input_too_small_fail_in_one_line_as_info_does(capsys, argv, smallest):
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, "for its downsampling", f"at least {smallest}", "got")
    code, _, info_err = run(capsys, "info", argv[1], "--input", argv[3])
    assert err == info_err  # the model's own check, the same message


def test_rf_of_a_gated_network_names_ignore_gates(capsys):
    code, out, _ = run(capsys, "rf", "seresnet50", "--input", "3x64x64")
    assert code == 0 and "global" in out
    assert "--ignore-gates gives the local field" in out.splitlines()[-1] and "layer1" in out.splitlines()[-1]
    code, out, _ = run(capsys, "rf", "seresnet50", "--input", "3x64x64", "--ignore-gates")
    assert code == 0 and "--ignore-gates" not in out
    code, out, _ = run(capsys, "rf", "resnet50", "--input", "3x64x64")
    assert code == 0 and "gate" not in out  # global only at the output, by its pooling


def test_arith_unet_gives_the_valid_sizes_around_a_size(capsys):
    code, out, _ = run(capsys, "arith", "--unet", "--in", "572")
    assert code == 0
    assert "input 572 is valid: output 388" in out
    assert "556 -> 372" in out and "588 -> 404" in out
    code, out, _ = run(capsys, "arith", "--unet", "--in", "573")
    assert code == 0 and "573 is not valid" in out and "572 -> 388" in out and "588 -> 404" in out
    code, out, _ = run(capsys, "arith", "--unet", "--in", "100")
    assert code == 0 and "none below" in out and "188 -> 4" in out
    code, _, err = run(capsys, "arith", "--in", "5")
    assert_one_line_error(code, err, "--kernel", "--unet")
