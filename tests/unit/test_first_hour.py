"""The first hour without a scene YAML (issue 17), the pure parts: ``nnrender init``'s
starter scene, ``inspect``'s table (no estimate: no Blender), ``schema`` and its JSON Schema,
"did you mean" in errors, YAML's booleans, and the API's settings. The renders are in
tests/render/test_first_hour_render.py, the model sources in tests/reader/test_api_model.py."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import types
import warnings
from pathlib import Path

import jsonschema
import pytest
import yaml

from nnrender.api import settings_layer, show_inline
from nnrender.commands.init_scene import starter_scene
from nnrender.commands.inspect import layer_rows
from nnrender.commands.keys import walk
from nnrender.commands.schema import json_schema, schema_text
from nnrender.config.load import drop_empty_sections, load_config, parse_set
from nnrender.errors import ConfigError, NNRenderError
from nnrender.estimate import Estimate, confirm
from nnrender.model.ir import Dump
from nnrender.model.synthetic import cnn_layers, write_synthetic
from nnrender.plan import make_plan

ROOT = Path(__file__).resolve().parents[2]
KEY_LINE = re.compile(r"^(\s*)# ([A-Za-z_][\w*?.\[\]-]*): ")  # a commented-out key


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "nnrender", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=180)


def one_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnrender: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def demo_dump(tmp_path_factory):
    """Demo-shaped: the digits CNN's layers (conv, pool, dense), 3 epochs, with weights."""
    return write_synthetic(tmp_path_factory.mktemp("demo") / "dump", cnn_layers(), epochs=3,
                           with_weights=True)


def plan_of(scene=None, **layer):
    config, base = load_config(scene, layer)
    dump = config.dump if Path(config.dump).is_absolute() else base / config.dump
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_plan(Dump(dump), config, scene or "scene")


# ------------------------------------------------------------------ init


def test_init_writes_a_scene_that_plans_as_the_dump_alone(tmp_path, demo_dump):
    scene = tmp_path / "scene.yaml"
    proc = run("init", demo_dump, "-o", scene)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(scene)
    text = scene.read_text()
    data = yaml.safe_load(text)
    assert Path(data["dump"]) == demo_dump.resolve() or (tmp_path / data["dump"]).resolve() \
        == demo_dump.resolve()
    # only the dump is set, and the sections with nothing under them are their defaults
    kept = {k: v for k, v in drop_empty_sections(data).items() if v != {}}
    assert kept == {"dump": data["dump"]}
    # every top-level key is there, with a comment
    for key in (k for k in walk() if k.depth == 0):
        assert re.search(rf"^(# )?{key.name}:.*#", text, re.M), key.name
    # the layer names, commented out, under layout.layers and edges.layers
    names = [layer.name for layer in cnn_layers()]
    for section in ("layout", "edges"):
        block = text.split(f"\n{section}:")[1].split("\n  layers:")[1].split("\n  ")[0:]
        listed = re.findall(r"^    # ([\w]+): \{\}", "\n  ".join(block), re.M)
        assert listed[:len(names)] == names, section
    # it renders unchanged: the very plan of the dump with no scene
    assert plan_of(scene).to_json() == plan_of(None, dump=str(demo_dump)).to_json()
    # and it stays as it is: init does not replace a file
    one_error(run("init", demo_dump, "-o", scene), "scene.yaml", "exists", "--force")
    assert scene.read_text() == text
    one_error(run("init", tmp_path, "-o", tmp_path / "x.yaml"), "not a dump folder")


def test_init_stays_valid_with_any_one_key_uncommented(tmp_path, demo_dump):
    scene = tmp_path / "scene.yaml"
    text = starter_scene(demo_dump, Dump(demo_dump), scene)
    lines = text.splitlines()
    keyed = [i for i, line in enumerate(lines) if KEY_LINE.match(line)]
    assert len(keyed) > 100  # every key of every section, and the layers twice
    for i in keyed:
        changed = list(lines)
        indent, _ = KEY_LINE.match(lines[i]).groups()
        changed[i] = indent + lines[i][len(indent) + 2:]
        scene.write_text("\n".join(changed) + "\n")
        try:
            plan_of(scene)
        except ConfigError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"line {i + 1} uncommented ({changed[i].strip()}): {exc}")
    # the values shown are those it renders with: every key uncommented at once (the
    # layer entries are empty) plans exactly as none
    for i in keyed:
        indent, _ = KEY_LINE.match(lines[i]).groups()
        lines[i] = indent + lines[i][len(indent) + 2:]
    scene.write_text("\n".join(lines) + "\n")
    assert plan_of(scene).to_json() == plan_of(None, dump=str(demo_dump)).to_json()


def test_init_sets_a_style(tmp_path, demo_dump):
    scene = tmp_path / "s.yaml"
    assert run("init", demo_dump, "-o", scene, "-s", "paper").returncode == 0
    assert yaml.safe_load(scene.read_text())["style"] == "paper"
    assert plan_of(scene).look.background == (1.0, 1.0, 1.0)


# ------------------------------------------------------------------ inspect


def test_inspect_reads_the_plan(tmp_path, demo_dump):
    sets = ["layout.layers.dense1.arrange=fold", "edges.max_targets=20",
            "render.resolution=[96,54]", "layout.layers.conv2.show=4"]
    proc = run("inspect", demo_dump, "--no-estimate", *(a for s in sets for a in ("--set", s)))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line and
            not line.startswith("note:")}
    assert list(rows) == [layer.name for layer in cnn_layers()]
    assert "maps 4 of 32" in rows["conv2"] and "maps, all 16" in rows["conv1"]
    assert "kept: 16 from input" in rows["conv1"]
    assert "one block: the mean of 64 neurons" in rows["dense1"]
    assert "omitted: it is drawn as one block" in rows["dense1"]
    assert "omitted: dense1 is drawn as one block" in rows["output"]
    assert "omitted: it draws 128 maps or neurons, more than edges.max_targets (20)" \
        not in out  # flatten takes no weighted edges: a dash, no reason
    assert rows["pool1"].split()[-2:] == ["-", "shown"]
    # the same facts as the plan's own: its labels, edges and notes
    plan = plan_of(None, dump=str(demo_dump), **{k: v for k, v in parse_set(sets).items()})
    for row in layer_rows(plan, cnn_layers()):
        line = rows[row.name]
        assert row.drawn in line and row.edges in line and line.endswith(row.label)
    hidden = [r.name for r in layer_rows(plan, cnn_layers()) if r.label == "hidden for room"]
    assert hidden == plan.labels_hidden and hidden, "96x54 hides some labels"
    for note in plan.warnings:
        assert f"note: {note}" in out
    assert "estimate" not in out


def test_inspect_attention_and_tokens():
    vit = ROOT / "tests" / "data" / "vit_digits"
    proc = run("inspect", vit, "--no-estimate")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"block1_attention/attention\s+Attention\s+4x16x16\s+4 heads", proc.stdout)
    assert re.search(r"block1_attention .*tokens, all 16 .*kept: \d+ from block1_norm1 "
                     r"\(attention\)", proc.stdout)
    assert "edges join maps and neurons, not tokens" in proc.stdout


def test_inspect_bad_input_is_one_line(tmp_path, demo_dump):
    one_error(run("inspect", demo_dump, "--set", "layout.layers.conv_1.show=2",
                  "--no-estimate"), "layout.layers.conv_1: matches no layer",
              "(did you mean conv1")
    one_error(run("inspect", tmp_path / "nothing.yaml"), "nothing.yaml", "file not found")


def test_long_renders_ask_on_a_terminal(monkeypatch, capsys):
    long = Estimate(1000, 10.0, "cycles", (1920, 1080), 64, 500, [(76, 43), (153, 86)])
    short = Estimate(10, 10.0, "cycles", (1920, 1080), 64, 5, [(76, 43), (153, 86)])
    tty = io.StringIO("n\n")
    tty.isatty = lambda: True
    monkeypatch.setattr(sys, "stdin", tty)
    with pytest.raises(NNRenderError, match=r"about 2\.8 h: not started \(add --yes"):
        confirm(long, yes=False)
    assert "go on? [y/N]" in capsys.readouterr().err
    confirm(long, yes=True)  # --yes: no question
    confirm(short, yes=False)  # under an hour: none either
    yes = io.StringIO("y\n")
    yes.isatty = lambda: True
    monkeypatch.setattr(sys, "stdin", yes)
    confirm(long, yes=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # a script: no terminal, no question
    confirm(long, yes=False)
    assert long.line().startswith("1000 frames x 10 s = 2.8 h (cycles 1920x1080, 64 samples")


# ------------------------------------------------------------------ schema


def test_schema_json_validates_the_example_scenes(tmp_path):
    proc = run("schema", "--json", "-o", tmp_path / "scene.schema.json")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads((tmp_path / "scene.schema.json").read_text())
    assert schema == json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    check = jsonschema.Draft202012Validator(schema)
    scenes = sorted((ROOT / "scenes").glob("*.yaml"))
    assert len(scenes) >= 5
    for path in [*scenes, *sorted((ROOT / "presets").glob("*/*.yaml"))]:
        data = yaml.safe_load(path.read_text()) or {}
        errors = [e.message for e in check.iter_errors(data)]
        assert not errors, f"{path.name}: {errors}"
        load_config(path if path.parent.name == "scenes" else None,
                    None if path.parent.name == "scenes" else data)  # and pydantic agrees
    for bad in ({"render": {"samples": 0}}, {"look": {"colourmap": "magma"}},
                {"render": {"engine": "blender"}}, {"shots": [{"move": "orbit"}]}):
        assert list(check.iter_errors(bad)), bad
    assert not list(check.iter_errors({"render": {"denoise": False}}))  # YAML's off


def test_schema_text_lists_every_key():
    proc = run("schema")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == schema_text()
    for key in walk():
        assert f"{key.path}:" in proc.stdout, key.path
    assert "render.samples: int (1..65536) = 16\n      samples per pixel" in proc.stdout
    assert "render.engine: cycles | eevee | workbench = cycles" in proc.stdout


# ------------------------------------------------------------------ errors


def test_misspelt_keys_and_layers_say_what_was_meant(tmp_path, demo_dump):
    scene = tmp_path / "s.yaml"
    cases = [
        ("look:\n  colourmap: magma\n", "s.yaml: look.colourmap: unknown key (did you mean "
                                        "colormap?)"),
        ("shot: []\n", "shot: unknown key (did you mean shots?)"),
        ("layout:\n  layers:\n    conv_2: {show: 2}\n",
         "layout.layers.conv_2: matches no layer (did you mean conv2"),
        ("edges:\n  layers:\n    dense_1: {top_k: 2}\n",
         "edges.layers.dense_1: matches no layer (did you mean dense1"),
        ("edges:\n  field: {layer: conv_1}\n", "edges.field.layer: no layer 'conv_1' (did "
                                               "you mean conv1"),
        ("render:\n  engine: cylces\n", "render.engine: Input should be 'cycles', 'eevee' or "
                                        "'workbench' (did you mean cycles?)"),
        ("quality: prevew\n", "unknown preset 'prevew' (did you mean preview?)"),
        ("edges:\n  attention: {topk: 1}\n", "edges.attention.topk: unknown key (did you "
                                             "mean top_k?)"),
    ]
    for body, needle in cases:
        scene.write_text(f"dump: {demo_dump}\n{body}")
        one_error(run("inspect", scene, "--no-estimate"), needle)
    scene.write_text(f"dump: {demo_dump}\n")
    one_error(run("render", scene, "--set", "render.sampels=2"),
              "--set: render.sampels: unknown key (did you mean samples?)")
    one_error(run("render", "demo2", cwd=tmp_path), "demo2: file not found (did you mean "
                                                    "the scene demo?)")
    # a model needs inputs; a dump or a scene takes none (it has its own)
    model = tmp_path / "m.keras"
    model.write_bytes(b"not read: the check comes first")
    one_error(run("render", model, "-o", tmp_path / "o"), "--input: a model needs at least "
                                                          "one input")
    one_error(run("render", demo_dump, "--input", "digits:1"), "--input: only for a model "
                                                                "file")
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ YAML booleans


def test_yaml_booleans_where_a_key_has_off(tmp_path):
    scene = tmp_path / "s.yaml"
    scene.write_text("render:\n  denoise: off\nlayout:\n  wrap: no\n")
    config, _ = load_config(scene)
    assert (config.render.denoise, config.layout.wrap) == ("off", "none")
    config, _ = load_config(None, parse_set(["render.denoise=off", "layout.wrap=yes"]))
    assert (config.render.denoise, config.layout.wrap) == ("off", "auto")
    config, _ = load_config(None, parse_set(["render.denoise=fast", "layout.wrap=3"]))
    assert (config.render.denoise, config.layout.wrap) == ("fast", 3)
    with pytest.raises(ConfigError, match="render.denoise: .*give fast, balanced or high"):
        load_config(None, parse_set(["render.denoise=on"]))
    with pytest.raises(ConfigError, match=r"shots.0.epochs: .*play, first, last or an epoch"):
        load_config(None, {"shots": [{"duration": 1, "epochs": True}]})
    # every Literal key anywhere in the scene (sections, per-layer entries, shots, ...)
    # with a value YAML reads as a boolean takes that boolean
    from nnrender.commands.keys import literal_choices
    from nnrender.config.schema import SceneConfig

    yaml_bools = {"off", "on", "yes", "no", "true", "false", "y", "n"}
    found = []
    for model in _models(SceneConfig):
        for name, field in model.model_fields.items():
            words = {str(c).lower() for c in literal_choices(field.annotation)}
            if words & yaml_bools:
                found.append(f"{model.__name__}.{name}")
                model.__pydantic_validator__.validate_assignment(
                    model.model_construct(), name, False)  # accepted, as the value it means
    assert found == ["RenderConfig.denoise"]


def _models(model, seen=None):
    """Every pydantic model a scene's keys reach."""
    import typing

    from pydantic import BaseModel

    seen = seen if seen is not None else []
    if model in seen:
        return seen
    seen.append(model)
    stack = [f.annotation for f in model.model_fields.values()]
    while stack:
        ann = stack.pop()
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            _models(ann, seen)
        stack.extend(typing.get_args(ann))
    return seen


# ------------------------------------------------------------------ the API, without a render


def test_api_settings():
    assert settings_layer({"render": {"samples": 4}, "epochs": [0, 2]}) == {
        "render": {"samples": 4}, "epochs": [0, 2]}
    assert settings_layer({"render_samples": 4, "resolution": (320, 180), "orbit": 30}) == {
        "render": {"samples": 4, "resolution": [320, 180]}, "camera": {"orbit": 30}}
    with pytest.raises(NNRenderError, match="samples: a key of render, edges: give "
                                            "render_samples or edges_samples"):
        settings_layer({"samples": 4})
    with pytest.raises(NNRenderError, match="colourmap: unknown setting.*colormap"):
        settings_layer({"colourmap": "magma"})
    import nnrender

    with pytest.raises(NNRenderError, match="render.samples: Input should be less than"):
        nnrender.still("nowhere", render_samples=10**6)  # checked before any process
    with pytest.raises(NNRenderError, match="source: a dump folder, a model file or a "
                                            "Keras model, not a int"):
        nnrender.still(3)


def test_the_still_shows_inline_in_a_notebook(monkeypatch, tmp_path):
    shown = []

    class ZMQInteractiveShell:  # what a Jupyter kernel's shell is called
        pass

    ipython = types.ModuleType("IPython")
    display = types.ModuleType("IPython.display")
    ipython.get_ipython = lambda: ZMQInteractiveShell()
    display.Image = lambda filename: ("image", filename)
    display.Video = lambda path, embed: ("video", path, embed)
    display.display = shown.append
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    assert show_inline(tmp_path / "a.png")
    assert show_inline(tmp_path / "a.mp4", video=True)
    assert shown == [("image", str(tmp_path / "a.png")), ("video", str(tmp_path / "a.mp4"), True)]
    ipython.get_ipython = lambda: None  # a script: nothing shown
    assert not show_inline(tmp_path / "a.png")
