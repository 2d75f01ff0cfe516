"""``nnrender figure`` on the command line: the file it writes, and bad input as one line,
exit 2, nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "nnrender", "figure", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=180)


def _assert_user_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("nnrender: error: ")
    for n in needles:
        assert n in lines[0], lines[0]


def test_writes_the_figure(tmp_path, dump_path):
    scene = tmp_path / "fig.yaml"
    scene.write_text(f"dump: {dump_path}\noutput:\n  name: cnn\nfigure:\n  font_size: 7\n")
    proc = run(scene, "--format", "svg", "--columns", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "cnn.svg"
    assert proc.stdout.strip() == "cnn.svg" and out.is_file()
    assert 'width="252pt"' in out.read_text()
    proc = run(dump_path, "-o", tmp_path / "arch.png", "--architecture", "--dpi", "72")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "arch.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, needles", [
    (["--format", "jpg"], ["--format", "unknown format 'jpg'"]),
    (["-o", "fig.tiff"], ["fig.tiff", "unknown format 'tiff'"]),
    (["--width", "0in"], ["--width", "more than zero"]),
    (["--width=-2cm"], ["--width", "more than zero"]),
    (["--columns", "3"], ["--columns", "1 or 2"]),
    (["-o", "no/such/folder/fig.pdf"], ["does not exist"]),
])
def test_bad_options(tmp_path, dump_path, args, needles):
    _assert_user_error(run(dump_path, *args, cwd=tmp_path), *needles)
    assert not list(tmp_path.iterdir())


def test_scene_naming_layers_the_dump_lacks(tmp_path, dump_path):
    scene = tmp_path / "s.yaml"
    scene.write_text(f"dump: {dump_path}\nlayout:\n  layers:\n    resnet_stem:\n"
                     "      show: 2\n")
    _assert_user_error(run(scene, "-o", tmp_path / "f.pdf"), "s.yaml",
                       "layout.layers.resnet_stem: matches no layer")
    assert not (tmp_path / "f.pdf").exists()


def test_unknown_epoch_and_missing_source(tmp_path, dump_path):
    _assert_user_error(run(dump_path, "--epoch", "99", "-o", tmp_path / "f.pdf"),
                       "figure.epoch: 99 not in the dump")
    _assert_user_error(run(tmp_path / "nothing.keras", "-o", tmp_path / "f.pdf"),
                       "nothing.keras", "file not found")
