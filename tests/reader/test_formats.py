"""open_model: every way a Keras/TensorFlow user keeps a trained model must give back the
same layers and, epoch by epoch, exactly the weights that were saved."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnrender.errors import ModelError
from nnrender.model.epochs import epoch_number as epoch_of
from nnrender.model.epochs import order_by_epoch
from nnrender.model.keras_files import open_model

pytestmark = pytest.mark.tf

EPOCHS = 3

BUILDERS = '''
import keras
from keras import layers


def build(units=3, extra=False):
    stack = [keras.Input((4,), name="x"),
             layers.Dense(units, activation="relu", name="d1"),
             layers.BatchNormalization(name="bn"),
             layers.Dense(2, name="d2")]
    if extra:
        stack.append(layers.Dense(2, name="d3"))
    return keras.Sequential(stack, name="tiny")


def build_wide():
    return build(units=5)


def build_extra():
    return build(extra=True)


def build_small():
    return keras.Sequential([keras.Input((4,)), layers.Dense(3, name="d1")])


def not_a_model():
    return 42


def unbuilt():
    return keras.Sequential([layers.Dense(3)])
'''


def _line(exc: pytest.ExceptionInfo[ModelError]) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.startswith("nnrender: error: ")
    return text


def _same(model: Any, weights: list[np.ndarray]) -> bool:
    got = model.get_weights()
    return len(got) == len(weights) and all(
        np.array_equal(a, b) for a, b in zip(got, weights, strict=True)
    )


def _write_keras2_layout(tf: Any, model: Any, prefix: Path) -> None:
    """A checkpoint keyed as tf.keras 2 keys SavedModels and ``save_weights("x.ckpt")``
    (``layer_with_weights-<i>/<name>``): tf.keras 2 itself is not installed here."""
    root = tf.train.Checkpoint()
    for i, layer in enumerate(la for la in model.layers if la.weights):
        module = tf.Module()
        for var in layer.weights:
            setattr(module, var.name, tf.Variable(np.asarray(var)))
        setattr(root, f"layer_with_weights-{i}", module)
    root.write(str(prefix))


@pytest.fixture(scope="module")
def run(keras_mod: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny Dense+BatchNorm model trained 3 epochs, each epoch kept in every format."""
    keras = keras_mod
    import tensorflow as tf

    work = tmp_path_factory.mktemp("formats")
    (work / "nnr_builders.py").write_text(textwrap.dedent(BUILDERS))
    sys.path.insert(0, str(work))
    import nnr_builders

    sys.path.remove(str(work))
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.random((32, 4), dtype=np.float32)
    y = rng.random((32, 2), dtype=np.float32)
    model = nnr_builders.build()
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", metrics=["mae"])
    for sub in ("weights", "keras", "h5", "ckpts", "saved"):
        (work / sub).mkdir()
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model), work / "ckpts", max_to_keep=None
    )
    plain = tf.train.Checkpoint(model=model)
    custom = tf.train.Checkpoint(net=model, optimizer=model.optimizer)
    snapshots: dict[int, list[np.ndarray]] = {}
    for epoch in range(1, EPOCHS + 1):
        hist = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        snapshots[epoch] = [w.copy() for w in model.get_weights()]
        loss = hist.history["loss"][-1]
        model.save_weights(work / "weights" / f"epoch_{epoch:02d}.weights.h5")
        model.save(work / "keras" / f"model.{epoch:02d}-{loss:.2f}.keras")
        model.save(work / "h5" / f"weights.{epoch:02d}-{loss:.2f}.h5")
        manager.save()
        plain.save(str(work / "plain" / "snap"))  # snap-1, snap-2 ... like a user's loop
        custom.save(str(work / "custom" / "step"))  # a training loop's own names
    model.save(work / "model.keras")
    _write_keras2_layout(tf, model, work / "keras2" / "weights")
    model.export(str(work / "saved" / "exported"), verbose=False)
    tf.saved_model.save(model, str(work / "saved" / "tfsave"))
    return {"work": work, "snap": snapshots, "builders": work / "nnr_builders.py"}


# --------------------------------------------------------------------------- epoch numbers


@pytest.mark.parametrize(
    ("name", "epoch"),
    [
        ("epoch_08.weights.h5", 8),
        ("model.03-0.52.keras", 3),
        ("weights.10-0.53.hdf5", 10),
        ("weights-improvement-05-0.93.hdf5", 5),
        ("resnet50-04.keras", 4),
        ("run3_epoch_07.keras", 7),
        ("model_e12.keras", 12),
        ("ep3.h5", 3),
        ("ckpt-12.index", 12),
        ("cp0005.h5", 5),
        ("final.keras", None),
    ],
)
def test_epoch_number_rule(name: str, epoch: int | None) -> None:
    assert epoch_of(name) == epoch


def test_series_is_numeric_and_gaps_are_checked() -> None:
    files = [(epoch_of(n), Path(n)) for n in ("ckpt-10", "ckpt-2", "ckpt-6")]
    assert [e for e, _ in order_by_epoch(files, "ckpts", False)] == [2, 6, 10]  # step 4
    gap = [(n, Path(f"ckpt-{n}")) for n in (1, 2, 4)]
    with pytest.raises(ModelError) as exc:
        order_by_epoch(gap, "ckpts", False)
    assert "epoch 3 missing between ckpt-2 and ckpt-4" in _line(exc)
    assert [e for e, _ in order_by_epoch(gap, "ckpts", True)] == [1, 2, 4]
    odd = [(n, Path(f"e{n}")) for n in (5, 10, 15, 17)]
    with pytest.raises(ModelError, match="jump from 15 to 17"):
        order_by_epoch(odd, "ckpts", False)
    with pytest.raises(ModelError, match="epoch 2 appears twice"):
        order_by_epoch([(2, Path("a2")), (2, Path("b2"))], "x", False)


# --------------------------------------------------------------------------- Keras files


def test_full_model_files(run: dict[str, Any]) -> None:
    model, series = open_model(run["work"] / "model.keras")
    assert series is None and [la.name for la in model.layers] == ["d1", "bn", "d2"]
    assert _same(model, run["snap"][EPOCHS])
    model, series = open_model(next((run["work"] / "h5").glob("weights.03-*.h5")))
    assert series is None and _same(model, run["snap"][3])


def test_weights_series_beside_architecture(run: dict[str, Any]) -> None:
    work = run["work"]
    model, series = open_model(work / "model.keras", weights=str(work / "weights"))
    assert series is not None and [e for e, _, _ in series] == [1, 2, 3]
    for epoch, source, load in series:
        assert source.endswith(f"epoch_{epoch:02d}.weights.h5")
        load(model)
        assert _same(model, run["snap"][epoch])
    _, by_glob = open_model(work / "model.keras", weights=str(work / "weights" / "*.weights.h5"))
    assert by_glob is not None and len(by_glob) == 3


@pytest.mark.parametrize("sub", ["keras", "h5"])
def test_full_model_per_epoch(run: dict[str, Any], sub: str) -> None:
    model, series = open_model(run["work"] / sub)
    assert series is not None and [e for e, _, _ in series] == [1, 2, 3]
    for epoch, _source, load in reversed(series):
        load(model)
        assert _same(model, run["snap"][epoch])


# --------------------------------------------------------------------------- TF formats


def test_checkpoint_manager_with_file_builder(run: dict[str, Any]) -> None:
    builder = f"{run['builders']}:build"
    model, series = open_model(run["work"] / "ckpts", builder=builder)
    assert model.name == "tiny" and not _same(model, run["snap"][1])
    assert series is not None and [e for e, _, _ in series] == [1, 2, 3]
    for epoch, source, load in series:
        assert source.endswith(f"ckpt-{epoch}.index")
        load(model)
        assert _same(model, run["snap"][epoch])


def test_checkpoint_glob_with_module_builder(
    run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(run["work"])  # module:function imports from the current folder
    model, series = open_model("plain/snap-*.index", builder="nnr_builders:build")
    assert series is not None and [e for e, _, _ in series] == [1, 2, 3]
    series[1][2](model)
    assert _same(model, run["snap"][2])


@pytest.mark.parametrize("name", ["exported", "tfsave"])
def test_savedmodel_with_builder(run: dict[str, Any], name: str) -> None:
    folder = run["work"] / "saved" / name
    model, series = open_model(folder, builder=f"{run['builders']}:build")
    assert series is not None and len(series) == 1 and series[0][1] == str(folder)
    series[0][2](model)
    assert _same(model, run["snap"][EPOCHS])


def test_checkpoint_under_another_name_and_one_prefix(run: dict[str, Any]) -> None:
    builder = f"{run['builders']}:build"
    model, series = open_model(run["work"] / "custom" / "step-2", builder=builder)
    assert series is not None and [e for e, _, _ in series] == [2]
    series[0][2](model)
    assert _same(model, run["snap"][2])


def test_tf_keras2_layout(run: dict[str, Any]) -> None:
    prefix = run["work"] / "keras2" / "weights"
    model, series = open_model(prefix, builder=f"{run['builders']}:build")
    assert series is not None and series[0][0] == 0
    series[0][2](model)
    assert _same(model, run["snap"][EPOCHS])
    wide, series = open_model(prefix, builder=f"{run['builders']}:build_wide")
    assert series is not None
    with pytest.raises(ModelError, match=r"tiny/d1/kernel has shape \(4, 5\)"):
        series[0][2](wide)


# --------------------------------------------------------------------------- errors


def test_tf_formats_without_builder_say_what_to_pass(run: dict[str, Any]) -> None:
    for folder in (run["work"] / "saved" / "exported", run["work"] / "ckpts"):
        with pytest.raises(ModelError) as exc:
            open_model(folder)
        assert str(folder) in _line(exc) and "--builder module:function" in _line(exc)
    with pytest.raises(ModelError, match="weights only"):
        open_model(run["work"] / "weights")


@pytest.mark.parametrize(
    ("func", "words"),
    [
        ("build_wide", "does not fit the built model"),
        ("build_extra", "nothing saved for tiny/d3/kernel"),
        ("build_small", "lacks"),
    ],
)
def test_checkpoint_from_another_architecture(
    run: dict[str, Any], func: str, words: str
) -> None:
    model, series = open_model(run["work"] / "ckpts", builder=f"{run['builders']}:{func}")
    assert series is not None
    with pytest.raises(ModelError) as exc:
        series[0][2](model)
    assert "ckpt-1.index" in _line(exc) and words in _line(exc)


def test_exported_savedmodel_from_another_architecture(run: dict[str, Any]) -> None:
    folder = run["work"] / "saved" / "exported"
    model, series = open_model(folder, builder=f"{run['builders']}:build_wide")
    assert series is not None
    with pytest.raises(ModelError) as exc:
        series[0][2](model)
    assert str(folder) in _line(exc) and "tiny/d1/kernel" in _line(exc)


@pytest.mark.parametrize(
    ("builder", "words"),
    [
        ("no_such_module_xyz:build", "cannot import the builder: ModuleNotFoundError"),
        ("{b}:not_a_model", "returned int, not a keras.Model"),
        ("{b}:unbuilt", "has no weights yet"),
        ("{b}:missing", "has no function missing"),
        ("just_a_name", "must look like module:function"),
    ],
)
def test_bad_builders(run: dict[str, Any], builder: str, words: str) -> None:
    text = builder.format(b=run["builders"])
    with pytest.raises(ModelError) as exc:
        open_model(run["work"] / "ckpts", builder=text)
    assert text in _line(exc) and words in _line(exc)


def test_missing_and_corrupt_files(run: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file or folder"):
        open_model(tmp_path / "nope.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError) as exc:
        open_model(bad)
    assert str(bad) in _line(exc) and "corrupt" in _line(exc)
    gap = tmp_path / "gap"
    gap.mkdir()
    for n in (1, 2, 4):
        src = run["work"] / "weights" / f"epoch_{min(n, 3):02d}.weights.h5"
        (gap / f"epoch_{n}.weights.h5").write_bytes(src.read_bytes())
    with pytest.raises(ModelError) as exc:
        open_model(run["work"] / "model.keras", weights=str(gap))
    assert "epoch 3 missing between epoch_2.weights.h5 and epoch_4.weights.h5" in _line(exc)
    _, series = open_model(run["work"] / "model.keras", weights=str(gap), allow_gaps=True)
    assert series is not None and [e for e, _, _ in series] == [1, 2, 4]
    (gap / "epoch_4.weights.h5").write_bytes(b"garbage")
    model = open_model(run["work"] / "model.keras")[0]
    with pytest.raises(ModelError) as exc:
        series[2][2](model)
    assert "epoch_4.weights.h5" in _line(exc) and "epoch 4" in _line(exc)
