"""The deployment commands are part of ``convzoo``'s parser and need their optional extra only when they run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from convzoo.cli import build_parser, main


@pytest.mark.parametrize("command", ["export", "quantize", "prune", "bench"])
def test_deploy_commands_are_wired(command, capsys):
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args([command, "--help"])
    assert stopped.value.code == 0
    assert f"usage: convzoo {command}" in capsys.readouterr().out


def test_building_the_parser_imports_no_deploy_dependency():
    code = ("import sys; import convzoo.cli; convzoo.cli.build_parser(); "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'torch_pruning', 'torchao') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_missing_extra_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the extra were not installed
    monkeypatch.delitem(sys.modules, "convzoo.deploy.export", raising=False)
    assert main(["export", "lenet5", "--out", str(tmp_path / "lenet5.onnx")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pip install 'convzoo[deploy]'" in error
    assert not (tmp_path / "lenet5.onnx").exists()
