"""The command line on bad input: one line naming the file and key, exit 2, no traceback,
and nothing earlier damaged. These fail before Blender is imported, so they stay fast."""

import shutil
import subprocess
import sys

import pytest


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "nnrender", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def _assert_user_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("nnrender: error: ")
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_missing_scene(tmp_path):
    _assert_user_error(run("render", tmp_path / "missing.yaml", "-o", tmp_path / "o"),
                       "missing.yaml", "file not found")


def test_unknown_key(tmp_path, dump_path):
    scene = tmp_path / "s.yaml"
    scene.write_text(f"dump: {dump_path}\nlook:\n  colourmap: magma\n")
    _assert_user_error(run("render", scene, "-o", tmp_path / "o"), "s.yaml",
                       "look.colourmap: unknown key")


def test_wrong_type_from_set(tmp_path, dump_path):
    scene = tmp_path / "s.yaml"
    scene.write_text(f"dump: {dump_path}\n")
    _assert_user_error(run("render", scene, "--set", "render.samples=many", "-o", tmp_path),
                       "--set", "render.samples")


def test_missing_dump_and_corrupt_manifest(tmp_path, dump_path):
    scene = tmp_path / "s.yaml"
    scene.write_text("dump: nowhere\n")
    _assert_user_error(run("render", scene, "-o", tmp_path / "o"), "nowhere", "does not exist")
    bad = tmp_path / "bad"
    shutil.copytree(dump_path, bad)
    (bad / "manifest.json").write_text("garbage")
    scene.write_text("dump: bad\n")
    _assert_user_error(run("render", scene, "-o", tmp_path / "o"), "manifest.json", "corrupt")


def test_nan_activations_name_layer(tmp_path):
    import numpy as np

    from nnrender.model.ir import DumpWriter
    from nnrender.model.synthetic import activation, cnn_layers

    layers = cnn_layers()
    writer = DumpWriter(tmp_path / "nan")
    acts = [activation(layer.output_shape, 1, 0, i) for i, layer in enumerate(layers)]
    acts[6][0, 3] = np.inf
    writer.add_epoch(0, acts)
    writer.finish({"name": "m"}, layers, {"count": 1})
    scene = tmp_path / "s.yaml"
    scene.write_text("dump: nan\n")
    _assert_user_error(run("render", scene, "-o", tmp_path / "o"), "layer dense1",
                       "NaN or Inf")


def test_bad_input_leaves_earlier_output_alone(tmp_path, dump_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "digits.mp4").write_bytes(b"earlier video")
    (out / "frames").mkdir()
    (out / "frames" / "frame_00001.png").write_bytes(b"earlier frame")
    scene = tmp_path / "s.yaml"
    scene.write_text(f"dump: {dump_path}\nrender:\n  engine: povray\n")
    _assert_user_error(run("render", scene, "-o", out), "render.engine")
    assert (out / "digits.mp4").read_bytes() == b"earlier video"
    assert (out / "frames" / "frame_00001.png").read_bytes() == b"earlier frame"
    assert sorted(p.name for p in out.iterdir()) == ["digits.mp4", "frames"]


def test_bad_frames_range(tmp_path, dump_path):
    scene = tmp_path / "s.yaml"
    scene.write_text(f"dump: {dump_path}\n")
    _assert_user_error(run("render", scene, "--frames", "5-99999", "-o", tmp_path / "o"),
                       "--frames", "the video has frames 1-")


def test_dump_missing_model(tmp_path):
    arr = tmp_path / "x.npy"
    import numpy as np

    np.save(arr, np.zeros((1, 8, 8, 1), np.float32))
    _assert_user_error(run("dump", tmp_path / "none.keras", "--input", arr, "-o",
                           tmp_path / "d"), "none.keras")
    _assert_user_error(run("dump", tmp_path / "none.keras", "-o", tmp_path / "d"), "--input")


@pytest.mark.parametrize("module", ["nnrender.cli", "nnrender.plan", "nnrender.pipeline",
                                    "nnrender.config.load"])
def test_pure_modules_import_neither_bpy_nor_tensorflow(module):
    code = (f"import sys, {module}; "
            "bad = [m for m in ('bpy', 'tensorflow', 'keras') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_help_lists_commands():
    proc = run("--help")
    assert proc.returncode == 0
    for cmd in ("demo", "dump", "render"):
        assert cmd in proc.stdout


def test_set_dump_is_relative_to_where_it_was_typed(tmp_path):
    (tmp_path / "scenes").mkdir()
    scene = tmp_path / "scenes" / "s.yaml"
    scene.write_text("quality: draft\n")
    proc = run("render", scene, "--set", "dump=mydump", "-o", tmp_path / "o", cwd=tmp_path)
    _assert_user_error(proc, str(tmp_path / "mydump"), "does not exist")


def test_dump_refuses_a_folder_of_other_files(tmp_path):
    import numpy as np

    mine = tmp_path / "work"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    arr = tmp_path / "x.npy"
    np.save(arr, np.zeros((1, 8, 8, 1), np.float32))
    model = tmp_path / "m.keras"
    model.write_bytes(b"PK\x03\x04 not really")  # fails before TensorFlow loads it
    _assert_user_error(run("dump", model, "--input", arr, "-o", mine), str(mine),
                       "no nnrender dump")
    assert (mine / "notes.txt").read_text() == "mine"


def test_frames_and_still_together_is_an_error(tmp_path, dump_path):
    scene = tmp_path / "s.yaml"
    scene.write_text(f"dump: {dump_path}\n")
    _assert_user_error(run("render", scene, "--frames", "1-2", "--still", "-o", tmp_path / "o"),
                       "--frames", "not both")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("flag", "value"), [("--workers", "-1"), ("--workers", "0"),
                                             ("--chunk", "0"), ("--retries", "-1")])
def test_farm_bad_numbers(tmp_path, flag, value):
    _assert_user_error(run("farm", tmp_path / "s.yaml", flag, value, "-o", tmp_path / "o"),
                       flag, "must be at least")
    assert not (tmp_path / "o").exists()
