"""The trainer's files, read by numpy: the same accuracy, the same int8 and int4 predictions.

Needs only numpy and safetensors (`pip install numpy safetensors`). Runs the trainer binary
named by $TRAINER, else `cargo run -q -p trainer --`. From the repository root:

    python3 -m unittest discover -s tests/python -v
"""

import collections
import gzip
import json
import os
import pickle
import shlex
import subprocess
import tempfile
import unittest
import zipfile
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

ROOT = Path(__file__).resolve().parents[2]
MNIST = ROOT / "data" / "mnist"
TUTORIAL_PKL = ROOT / "tests" / "fixtures" / "torch" / "awesome_model.pkl"
TRAINER = shlex.split(os.environ.get("TRAINER", "cargo run -q -p trainer --"))


def trainer(*args):
    """Runs the trainer and returns its stdout; fails the test on a non-zero exit."""
    run = subprocess.run([*TRAINER, *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        raise AssertionError(f"trainer {' '.join(map(str, args))} failed:\n{run.stderr}")
    return run.stdout


def idx(name, header):
    with gzip.open(MNIST / f"{name}.gz") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


IMAGES = idx("t10k-images-idx3-ubyte", 16).reshape(-1, 784)
LABELS = idx("t10k-labels-idx1-ubyte", 8)


def float_predictions(weight, bias):
    """The float model, as PyTorch would run it: ToTensor pixels (p / 255), x W^T + b."""
    x = IMAGES.astype(np.float32) / np.float32(255)
    return np.argmax(x @ weight.T + bias, axis=1)


def int8_predictions(weight, scale, bias):
    """The int8 (and int4) model exactly as infer-core documents it: an exact integer dot
    product with the raw pixels, then one f32 multiply by scale / 255 and one f32 add."""
    dots = IMAGES.astype(np.int32) @ weight.astype(np.int32).T
    logits = dots.astype(np.float32) * (scale / np.float32(255)) + bias
    return np.argmax(logits, axis=1)  # the first maximum, as infer-core's argmax


def quantize(weight):
    """Symmetric per-class int8, rounding half away from zero as Rust's f32::round."""
    scale = np.abs(weight).max(axis=1) / np.float32(127)
    ratio = weight / scale[:, None]
    q = np.clip(np.sign(ratio) * np.floor(np.abs(ratio) + np.float32(0.5)), -127, 127)
    return q.astype(np.int8), scale.astype(np.float32)


class TrainedFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.out = Path(cls.dir.name)
        trainer("train", "--epochs", "1", "--quiet", "--out-dir", cls.out)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_float_file_gives_the_reported_accuracy(self):
        tensors = load_file(self.out / "model.safetensors")
        self.assertEqual(tensors["linear.weight"].shape, (10, 784))
        self.assertEqual(tensors["linear.weight"].dtype, np.float32)
        with safe_open(self.out / "model.safetensors", "np") as f:
            reported = float(f.metadata()["float_test_accuracy"])
        accuracy = 100 * np.mean(float_predictions(tensors["linear.weight"], tensors["linear.bias"]) == LABELS)
        self.assertAlmostEqual(accuracy, reported, delta=0.02)

    def test_int8_and_int4_files_give_exactly_infer_cores_predictions(self):
        for scheme in ("int8", "int4"):
            with self.subTest(scheme):
                t = load_file(self.out / f"model.{scheme}.safetensors")
                self.assertEqual(t["linear.weight"].dtype, np.int8)
                ours = int8_predictions(t["linear.weight"], t["linear.weight_scale"], t["linear.bias"])
                device = json.loads(trainer("eval", self.out / f"model.{scheme}.postcard", "--json"))
                np.testing.assert_array_equal(ours, np.array(device["predictions"]))
                with safe_open(self.out / f"model.{scheme}.safetensors", "np") as f:
                    reported = f.metadata()[f"{scheme}_test_accuracy"]
                self.assertEqual(f"{100 * np.mean(ours == LABELS):.2f}", reported)

    def test_int4_file_holds_int4_values_one_per_int8_and_says_so(self):
        t = load_file(self.out / "model.int4.safetensors")
        weight = t["linear.weight"]
        self.assertEqual((weight.shape, weight.dtype), ((10, 784), np.int8))
        self.assertTrue(np.all((weight >= -8) & (weight <= 7)))
        self.assertEqual((weight.min(), weight.max()), (-8, 7), "the whole int4 range is used")
        self.assertEqual(t["linear.weight_scale"].shape, (10,))
        with safe_open(self.out / "model.int4.safetensors", "np") as f:
            self.assertEqual(f.metadata()["weight_bits"], "4")


class ExportFromNumpy(unittest.TestCase):
    def test_a_numpy_written_model_goes_to_the_device_with_numpys_predictions(self):
        rng = np.random.default_rng(7)
        weight = rng.normal(0, 0.05, size=(10, 784)).astype(np.float32)
        bias = rng.normal(0, 0.1, size=10).astype(np.float32)
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            save_file({"linear.weight": weight, "linear.bias": bias}, d / "model.safetensors")
            trainer("export", d / "model.safetensors", "--out-dir", d / "device", "--quiet")

            q, scale = quantize(weight)
            exported = load_file(d / "device" / "model.int8.safetensors")
            np.testing.assert_array_equal(exported["linear.weight"], q)
            np.testing.assert_array_equal(exported["linear.weight_scale"], scale)

            int8 = json.loads(trainer("eval", d / "device" / "model.int8.postcard", "--json"))
            np.testing.assert_array_equal(np.array(int8["predictions"]), int8_predictions(q, scale, bias))

            int4 = load_file(d / "device" / "model.int4.safetensors")
            int4_ours = int8_predictions(int4["linear.weight"], int4["linear.weight_scale"], bias)
            int4_device = json.loads(trainer("eval", d / "device" / "model.int4.postcard", "--json"))
            np.testing.assert_array_equal(np.array(int4_device["predictions"]), int4_ours)

            f32 = json.loads(trainer("eval", d / "device" / "model.f32.postcard", "--json"))
            differ = np.sum(np.array(f32["predictions"]) != float_predictions(weight, bias))
            self.assertLessEqual(differ, 2, "f32 blob vs numpy: only summation-order ties may differ")



class Int4FromNumpy(unittest.TestCase):
    def test_a_numpy_written_int4_file_is_run_with_numpys_predictions(self):
        rng = np.random.default_rng(11)
        weight = rng.integers(-8, 8, size=(10, 784)).astype(np.int8)
        scale = rng.uniform(0.001, 0.01, size=10).astype(np.float32)
        bias = rng.normal(0, 0.1, size=10).astype(np.float32)
        tensors = {"linear.weight": weight, "linear.weight_scale": scale, "linear.bias": bias}
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "model.int4.safetensors"
            save_file(tensors, path, metadata={"weight_bits": "4"})
            run = json.loads(trainer("eval", path, "--json"))
            self.assertEqual(run["kind"], "int4-safetensors")
            np.testing.assert_array_equal(np.array(run["predictions"]), int8_predictions(weight, scale, bias))

            weight[3, 5] = 8
            save_file(tensors, path, metadata={"weight_bits": "4"})
            bad = subprocess.run([*TRAINER, "eval", str(path)], cwd=ROOT, capture_output=True, text=True)
            self.assertEqual(bad.returncode, 65, bad.stderr)
            self.assertIn("outside the int4 range -8..=7", bad.stderr)


def rebuild_tensor(storage, offset, shape, stride, *_):
    """torch._utils._rebuild_tensor_v2 in numpy: the values at offset, shape and strides."""
    strides = [s * storage.itemsize for s in stride]
    return np.lib.stride_tricks.as_strided(storage[offset:], shape, strides).copy()


class StateDictUnpickler(pickle.Unpickler):
    """Reads a torch.save state dict (the zip format) with numpy alone: the storages from the
    archive, each tensor by its offset, shape and strides; no other class is ever loaded."""

    CLASSES = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
        ("torch", "FloatStorage"): np.dtype("<f4"),
    }

    def __init__(self, archive):
        self.archive = archive
        self.prefix = next(n for n in archive.namelist() if n.endswith("data.pkl"))[: -len("data.pkl")]
        super().__init__(archive.open(self.prefix + "data.pkl"))

    def find_class(self, module, name):
        if (module, name) not in self.CLASSES:
            raise pickle.UnpicklingError(f"{module}.{name} is no part of a float state dict")
        return self.CLASSES[(module, name)]

    def persistent_load(self, pid):
        kind, dtype, key, _location, _size = pid
        assert kind == "storage", pid
        return np.frombuffer(self.archive.read(f"{self.prefix}data/{key}"), dtype=dtype)


def torch_state_dict(path):
    with zipfile.ZipFile(path) as archive:
        return StateDictUnpickler(archive).load()


class TutorialPickle(unittest.TestCase):
    """The tutorial's `torch.save(model.state_dict(), 'awesome_model.pkl')`, as PyTorch wrote it."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.out = Path(cls.dir.name)
        trainer("export", TUTORIAL_PKL, "--out-dir", cls.out, "--quiet")

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_the_int8_blob_predicts_as_numpy_does_from_the_int8_file(self):
        for scheme in ("int8", "int4"):
            with self.subTest(scheme):
                t = load_file(self.out / f"model.{scheme}.safetensors")
                ours = int8_predictions(t["linear.weight"], t["linear.weight_scale"], t["linear.bias"])
                device = json.loads(trainer("eval", self.out / f"model.{scheme}.postcard", "--json"))
                self.assertEqual(len(device["predictions"]), 10_000)
                np.testing.assert_array_equal(np.array(device["predictions"]), ours)

    def test_the_exported_files_hold_exactly_the_pickles_tensors(self):
        state = torch_state_dict(TUTORIAL_PKL)
        self.assertEqual(list(state), ["linear.weight", "linear.bias"])
        self.assertEqual((state["linear.weight"].shape, state["linear.weight"].dtype), ((10, 784), np.float32))
        exported = load_file(self.out / "model.safetensors")
        for name in ("linear.weight", "linear.bias"):
            np.testing.assert_array_equal(exported[name], state[name])
        q, scale = quantize(state["linear.weight"])
        int8 = load_file(self.out / "model.int8.safetensors")
        np.testing.assert_array_equal(int8["linear.weight"], q)
        np.testing.assert_array_equal(int8["linear.weight_scale"], scale)

    def test_the_pickle_read_by_the_trainer_has_numpys_accuracy(self):
        state = torch_state_dict(TUTORIAL_PKL)
        ours = float_predictions(state["linear.weight"], state["linear.bias"])
        run = json.loads(trainer("eval", TUTORIAL_PKL, "--json"))
        self.assertEqual(run["kind"], "torch-state-dict")
        differ = np.sum(np.array(run["predictions"]) != ours)
        self.assertLessEqual(differ, 2, "f32 vs numpy: only summation-order ties may differ")


if __name__ == "__main__":
    unittest.main()
