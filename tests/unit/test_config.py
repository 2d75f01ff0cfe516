import pytest

from nnrender.config.load import load_config, parse_set, preset_names
from nnrender.errors import ConfigError


def _scene(tmp_path, text):
    p = tmp_path / "scene.yaml"
    p.write_text(text)
    return p


def test_presets_exist():
    assert {"draft", "preview", "final", "4k"} <= set(preset_names())


def test_precedence_defaults_preset_scene_cli(tmp_path):
    scene = _scene(tmp_path, "dump: d\nquality: final\nrender:\n  samples: 7\n")
    cfg, base = load_config(scene)
    assert cfg.render.resolution == (1920, 1080)  # from the preset
    assert cfg.render.samples == 7  # scene beats preset
    assert cfg.render.engine == "cycles"  # default
    assert base == tmp_path
    cfg, _ = load_config(scene, parse_set(["render.samples=3", "render.engine=workbench"]))
    assert cfg.render.samples == 3 and cfg.render.engine == "workbench"
    cfg, _ = load_config(scene, quality="draft")
    assert cfg.render.resolution == (320, 180) and cfg.quality == "draft"


def test_unknown_key_names_file_and_key(tmp_path):
    scene = _scene(tmp_path, "dump: d\nrender:\n  sampels: 4\n")
    with pytest.raises(ConfigError) as exc:
        load_config(scene)
    line = exc.value.line()
    assert str(scene) in line and "render.sampels: unknown key" in line
    assert "samples" in line  # the known keys are listed
    assert "\n" not in line


def test_wrong_type_names_key(tmp_path):
    scene = _scene(tmp_path, "dump: d\ncamera:\n  lens: wide\n")
    with pytest.raises(ConfigError, match="camera.lens"):
        load_config(scene)
    with pytest.raises(ConfigError, match=r"--set: render\.fps"):
        load_config(None, parse_set(["render.fps=fast"]))


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "none.yaml")
    scene = _scene(tmp_path, "dump: [unclosed\n")
    with pytest.raises(ConfigError, match="line"):
        load_config(scene)
    scene = _scene(tmp_path, "- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(scene)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'ultra'"):
        load_config(None, quality="ultra")


def test_parse_set_values():
    assert parse_set(["a.b=1", "a.c=[1, 2]", "d=x"]) == {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_set(["novalue"])
    with pytest.raises(ConfigError, match="conflicts"):
        parse_set(["a=1", "a.b=2"])


def test_yaml_cannot_name_code(tmp_path):
    scene = _scene(tmp_path, "dump: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError):
        load_config(scene)


def test_command_line_quality_beats_the_scene(tmp_path):
    scene = _scene(tmp_path, "dump: d\nquality: final\n")
    cfg, _ = load_config(scene, parse_set(["quality=draft"]))
    assert cfg.quality == "draft" and cfg.render.resolution == (320, 180)
    scene = _scene(tmp_path, "dump: d\nquality: ultra\n")
    with pytest.raises(ConfigError) as exc:
        load_config(scene)
    assert str(scene) in exc.value.line() and "unknown preset 'ultra'" in exc.value.line()


@pytest.mark.parametrize("item", ["epochs=[]", "camera.azimuth=.nan", "seed=-1",
                                  "timeline.hold=1e9", "look.background=[.inf, 0, 0]"])
def test_values_that_would_break_later_are_refused(item):
    with pytest.raises(ConfigError, match=item.split("=")[0].replace(".", r"\.")):
        load_config(None, parse_set([item]))


def test_style_presets_sit_between_quality_and_scene(tmp_path):
    from nnrender.config.load import style_names

    assert {"paper", "talk", "cinematic"} <= set(style_names())
    scene = _scene(tmp_path, "dump: d\nstyle: paper\nlook:\n  emission: 0.5\n")
    cfg, _ = load_config(scene)
    assert cfg.style == "paper"
    assert cfg.look.background == (1.0, 1.0, 1.0)  # from the style
    assert cfg.look.emission == 0.5  # the scene beats the style
    assert cfg.render.resolution == (640, 360)  # the quality preset still applies
    cfg, _ = load_config(scene, parse_set(["look.emission=2"]), style="talk")
    assert cfg.style == "talk" and cfg.look.glow > 0 and cfg.look.emission == 2
    cfg, _ = load_config(scene, style="cinematic")
    assert cfg.camera.fstop is not None and cfg.look.lighting == "rim"


def test_every_style_preset_validates():
    from nnrender.config.load import style_names

    for name in style_names():
        cfg, _ = load_config(None, {"style": name})
        assert cfg.style == name


def test_unknown_style_is_an_error(tmp_path):
    scene = _scene(tmp_path, "dump: d\nstyle: poster\n")
    with pytest.raises(ConfigError) as exc:
        load_config(scene)
    assert "style: unknown preset 'poster'" in exc.value.line()
    assert "paper" in exc.value.line()


def test_layout_keys_are_checked(tmp_path):
    scene = _scene(tmp_path, "dump: d\nlayout:\n  layers:\n    conv1: {arrange: spiral}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(scene)
    assert "layout.layers.conv1.arrange" in exc.value.line()
    scene = _scene(tmp_path, "dump: d\nlayout:\n  layers:\n    conv1: {shwo: 3}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(scene)
    assert "layout.layers.conv1.shwo: unknown key" in exc.value.line()
    scene = _scene(tmp_path, "dump: d\nlayout:\n  wrap: 0\n")
    with pytest.raises(ConfigError):
        load_config(scene)
    scene = _scene(tmp_path, "dump: d\nlayout:\n  layers:\n    'conv*':\n      show: 4\n"
                             "      changes:\n        - {at: 1.0, arrange: circle}\n")
    cfg, _ = load_config(scene)
    assert cfg.layout.layers["conv*"].show == 4
    assert cfg.layout.layers["conv*"].changes[0].over == 1.0
