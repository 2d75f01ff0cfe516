"""Options and process isolation for the whole test tree.

``pytest_addoption`` must live here (the first conftest pytest loads for ``pytest``,
``pytest tests`` and ``pytest tests/render`` alike).

TensorFlow and a rendering Blender segfault when they share a process (their thread pools
collide), and the design keeps them apart in production too (the dump on disk is the
contract). So when one session selects both TensorFlow tests and Blender tests, the
TensorFlow tests run in one child pytest process and each reports its own outcome here.
PyTorch tests (marked ``torch``) are kept from bpy the same way, in a child of their own
(PyTorch and TensorFlow each bring their own thread pools too).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from nnrender.runtime import isolate_home

isolate_home()  # before anything imports bpy or keras: they write caches into $HOME

import pytest  # noqa: E402

from nnrender.config.load import load_config  # noqa: E402
from nnrender.model.ir import Dump  # noqa: E402
from nnrender.model.synthetic import cnn_layers, write_synthetic  # noqa: E402
from nnrender.plan import ScenePlan, make_plan  # noqa: E402

_CHILD = "NNRENDER_TESTS_TF_CHILD"
# markers whose tests run in a child pytest (one per marker) when Blender tests run too
_ISOLATED = {"tf": "TensorFlow", "torch": "PyTorch"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-refs", action="store_true", default=False,
                     help="rewrite tests/render/refs/*.png from new renders instead of "
                          "comparing against them")


class _ChildOutcome(Exception):
    pass


class _ChildRun:
    """Runs the given node ids once in a child pytest and keeps each one's outcome."""

    def __init__(self, config: pytest.Config, nodeids: list[str]) -> None:
        self.config = config
        self.nodeids = nodeids
        self.results: dict[str, tuple[str, str]] | None = None
        self.output = ""

    def result(self, nodeid: str) -> tuple[str, str]:
        if self.results is None:
            self._run()
        assert self.results is not None
        return self.results.get(nodeid, ("failed", "no result from the child pytest:\n"
                                         + self.output[-3000:]))

    def _run(self) -> None:
        root = Path(str(self.config.rootpath))
        with tempfile.TemporaryDirectory() as tmp:
            xml = Path(tmp) / "tf.xml"
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   f"--junitxml={xml}", "-o", "junit_family=xunit2", *self.nodeids]
            env = dict(os.environ, **{_CHILD: "1"})
            proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
            self.output = proc.stdout + proc.stderr
            self.results = {}
            if xml.is_file():
                for case in ET.parse(xml).iter("testcase"):
                    module = case.get("classname", "").replace(".", "/") + ".py"
                    nodeid = f"{module}::{case.get('name')}"
                    outcome, text = "passed", ""
                    for kind in ("failure", "error", "skipped"):
                        node = case.find(kind)
                        if node is not None:
                            outcome = "skipped" if kind == "skipped" else "failed"
                            text = (node.get("message") or "") + "\n" + (node.text or "")
                            break
                    self.results[nodeid] = (outcome, text)


class _ChildItem(pytest.Item):
    """Stands in for a TensorFlow test that ran in the child process."""

    def __init__(self, *, run: _ChildRun, original: pytest.Item, framework: str = "TensorFlow",
                 **kw) -> None:
        super().__init__(**kw)
        self.run = run
        self.framework = framework
        self.original_nodeid = original.nodeid
        self.own_markers = list(original.own_markers)

    def runtest(self) -> None:
        outcome, text = self.run.result(self.original_nodeid)
        if outcome == "skipped":
            pytest.skip(text.strip().splitlines()[0] if text.strip() else "skipped")
        if outcome == "failed":
            raise _ChildOutcome(text)

    def repr_failure(self, excinfo, style=None):  # noqa: ANN001
        if isinstance(excinfo.value, _ChildOutcome):
            return f"(ran in a separate {self.framework} process)\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):  # noqa: ANN201
        return self.path, None, self.name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(_CHILD):
        return
    uses_blender = any(i.get_closest_marker("render") or i.get_closest_marker("blender")
                       for i in items)
    if not uses_blender:
        return
    swapped: dict[int, pytest.Item] = {}
    for marker, framework in _ISOLATED.items():
        group = [i for i in items if i.get_closest_marker(marker) and id(i) not in swapped]
        if not group:
            continue
        run = _ChildRun(config, [i.nodeid for i in group])
        swapped.update({id(i): _ChildItem.from_parent(i.parent, name=i.name, run=run,
                                                      original=i, framework=framework)
                        for i in group})
    items[:] = [swapped.get(id(i), i) for i in items]


# --------------------------------------------------------------------------- Blender fixtures
# Shared by tests/blender and tests/render; bpy is imported only when a scene is built, so the
# pure tests never load it.


class SceneCache:
    """The BuiltScene last built per (plan, engine), valid while Blender still holds it.

    ``build`` resets Blender (read_factory_settings), so a scene another test replaced is
    rebuilt rather than reused."""

    def __init__(self) -> None:
        self._key: tuple[int, str] | None = None
        self._built = None

    def _alive(self) -> bool:
        if self._built is None:
            return False
        import bpy

        try:
            return self._built.scene == bpy.context.scene
        except ReferenceError:
            return False

    def get(self, plan: ScenePlan, engine: str):  # noqa: ANN201 - BuiltScene, bpy is lazy
        from nnrender.blender.build import build

        key = (id(plan), engine)
        if self._key != key or not self._alive():
            self._built = build(plan, engine)
            self._key = key
        return self._built

    def forget(self) -> None:
        self._key = self._built = None


_SCENES = SceneCache()


@pytest.fixture(scope="session")
def scenes() -> SceneCache:
    return _SCENES


@pytest.fixture(scope="session")
def synthetic_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CNN-shaped dump with 3 recorded epochs (0, 1, 2), made with numpy only."""
    return write_synthetic(tmp_path_factory.mktemp("dump") / "dump", cnn_layers(), epochs=3)


def tiny_plan_factory(dump: Path, samples: int) -> Callable[..., ScenePlan]:
    """Plans of ``dump`` at 96x54 and ``samples`` samples; config sections as a dict and/or
    keyword arguments are merged over that."""

    def make(overrides: dict | None = None, **sections: dict) -> ScenePlan:
        layer: dict = {"render": {"resolution": [96, 54], "samples": samples, "denoise": "off"}}
        for key, value in {**(overrides or {}), **sections}.items():
            both = isinstance(value, dict) and isinstance(layer.get(key), dict)
            layer[key] = {**layer[key], **value} if both else value
        config, _ = load_config(None, layer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return make_plan(Dump(dump), config)

    return make


@pytest.fixture(scope="session")
def plan_factory(synthetic_dump: Path) -> Callable[[int], Callable[..., ScenePlan]]:
    return lambda samples: tiny_plan_factory(synthetic_dump, samples)
