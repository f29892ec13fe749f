"""Read dlib's face-recognition network file and turn it into a faceprint model; dlib itself is never imported.

dlib writes a network with its own serializer (dlib/serialize.h, dlib/dnn/*.h): integers as one byte holding the
byte count (low nibble) and sign (0x80) followed by that many little-endian bytes; floats as such an integer
mantissa and exponent (value = mantissa * 2^exponent); strings as a length and the bytes; tensors as a version,
four dimensions and raw little-endian float32s. A network is written from the loss layer down: each wrapper writes
its version and then the network under it, so the file holds all the versions first, then the input layer, then
each layer's own fields from the input upwards, each followed by the same bookkeeping (three flags, three tensors).

The reader checks the layer sequence against the architecture in faceprint.models.dlib_resnet, so a different
dlib network is refused with a message rather than loaded into the wrong places.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from faceprint.data.transforms import Preprocessing
from faceprint.models.dlib_resnet import INPUT_SIZE, LEVELS, Affine
from faceprint.models.embedder import FaceEmbedder, ModelConfig
from faceprint.models.io import ModelFileError

DLIB_FILE = "dlib_face_recognition_resnet_model_v1.dat"
LICENCE = ("dlib_face_recognition_resnet_model_v1 weights: public domain, as released by their author Davis E. King "
           "with dlib 19.3 (February 2017); shipped by the face_recognition_models package")


class DlibFormatError(ModelFileError):
    """A file that is not dlib's face-recognition ResNet as faceprint knows it."""


def find_dlib_weights() -> Path:
    """The network file inside the installed `face_recognition_models` package (found without importing it)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DlibFormatError("dlib's face descriptor weights are not installed; install them with "
                              "`pip install face_recognition_models` or give the .dat file's path")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / DLIB_FILE
    if not path.is_file():
        raise DlibFormatError(f"{path}: not found in the installed face_recognition_models package")
    return path


class _Reader:
    def __init__(self, data: bytes, path: str) -> None:
        self.data, self.pos, self.path = data, 0, path

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(f"{self.path}: not dlib's face ResNet ({what} at byte {self.pos})")

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail("file ends early")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def int(self) -> int:
        head = self._take(1)[0]
        n = head & 0x0F
        if n > 8 or head & 0x70:
            raise self.fail(f"bad integer header 0x{head:02x}")
        v = int.from_bytes(self._take(n), "little")
        return -v if head & 0x80 else v

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if exponent >= 32000:  # dlib's codes for inf, -inf, nan
            return {32000: float("inf"), 32001: float("-inf")}.get(exponent, float("nan"))
        return float(np.ldexp(np.float64(mantissa), exponent))

    def string(self) -> str:
        n = self.int()
        if not 0 <= n <= 256:
            raise self.fail(f"implausible string length {n}")
        return self._take(n).decode("latin-1")

    def flag(self) -> bool:
        c = self._take(1)
        if c not in (b"0", b"1"):
            raise self.fail(f"bad flag {c!r}")
        return c == b"1"

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise self.fail(f"tensor format {version} (only 2 is read)")
        dims = [self.int() for _ in range(4)]
        if min(dims) < 0:
            raise self.fail(f"negative tensor size {dims}")
        n = int(np.prod(dims))
        return np.frombuffer(self._take(4 * n), dtype="<f4").reshape(dims).astype(np.float32)

    def alias(self) -> tuple[int, ...]:
        if self.int() != 1:
            raise self.fail("alias_tensor format")
        return tuple(self.int() for _ in range(4))


@dataclass
class DlibLayer:
    kind: str  # "con", "affine", "relu", "max_pool", "avg_pool", "add_prev", "fc"
    params: np.ndarray | None = None
    ints: tuple[int, ...] = ()  # con: filters, nr, nc, stride y/x, pad y/x; pools: nr, nc, stride y/x, pad y/x


@dataclass
class DlibNet:
    input_mean: tuple[float, float, float]
    input_size: tuple[int, int]
    layers: list[DlibLayer]
    loss: dict[str, float] = field(default_factory=dict)


def _read_layer(r: _Reader) -> DlibLayer:
    name = r.string()
    if name == "con_4":
        params = r.tensor()
        ints = tuple(r.int() for _ in range(7))
        r.alias(), r.alias()
        [r.float() for _ in range(4)]  # learning-rate and weight-decay multipliers
        return DlibLayer("con", params, ints)
    if name == "affine_":
        params = r.tensor()
        r.alias(), r.alias()
        r.int()  # mode
        return DlibLayer("affine", params)
    if name in ("relu_", "add_prev_"):
        return DlibLayer(name[:-1])
    if name in ("max_pool_2", "avg_pool_2"):
        return DlibLayer(name[:-2], None, tuple(r.int() for _ in range(6)))
    if name == "fc_2":
        outputs, inputs = r.int(), r.int()
        params = r.tensor()
        r.alias(), r.alias()
        bias_mode = r.int()
        [r.float() for _ in range(4)]
        if bias_mode != 1 or params.size != outputs * inputs:
            raise r.fail("a fully connected layer with bias")
        return DlibLayer("fc", params.reshape(inputs, outputs), (outputs, inputs))
    raise r.fail(f"layer {name!r}, which this reader does not know")


def read_dlib_net(path: str | Path) -> DlibNet:
    """Parse a dlib `loss_metric` network file into its layers, input side first."""
    path = Path(path)
    if not path.is_file():
        raise DlibFormatError(f"{path}: no such file")
    r = _Reader(path.read_bytes(), str(path))
    if r.int() != 1:
        raise r.fail("no loss layer header")
    loss_name = r.string()
    if not loss_name.startswith("loss_metric"):
        raise r.fail(f"loss layer {loss_name!r} (a face descriptor network ends in loss_metric)")
    loss = {"margin": r.float(), "distance_threshold": r.float()} if loss_name == "loss_metric_2" else {}
    wrappers = []
    while (v := r.int()) != 3:  # 2: a layer, 1: a tag or skip; 3: the layer that holds the input
        if v not in (1, 2) or len(wrappers) > 10_000:
            raise r.fail(f"network wrapper version {v}")
        wrappers.append(v)
    if r.string() != "input_rgb_image_sized":
        raise r.fail("input layer (expected input_rgb_image_sized)")
    mean = (r.float(), r.float(), r.float())
    size = (r.int(), r.int())
    layers = []
    for i in range(wrappers.count(2) + 1):
        layers.append(_read_layer(r))
        r.flag(), r.flag(), r.flag()
        r.tensor(), r.tensor(), r.tensor()  # gradients and cached outputs (empty in a saved network)
        if i == 0 and r.int() != 1:  # the layer on the input also records the input's sample expansion factor
            raise r.fail("input sample expansion factor")
    if r.pos != len(r.data):
        raise r.fail(f"{len(r.data) - r.pos} bytes after the last layer")
    net = DlibNet(mean, size, layers, loss)  # type: ignore[arg-type]
    _check_layout(net, wrappers.count(1), str(path))
    return net


def expected_layout() -> list[str]:
    """dlib's `anet_type`, layer kinds from the input up; the layout DlibResNet builds."""
    kinds = ["con", "affine", "relu", "max_pool"]
    for _, down, plain in LEVELS:
        for is_down in [True] * down + [False] * plain:
            kinds += ["con", "affine", "relu", "con", "affine"] + (["avg_pool"] if is_down else [])
            kinds += ["add_prev", "relu"]
    return kinds + ["avg_pool", "fc"]


def _check_layout(net: DlibNet, tags: int, path: str) -> None:
    kinds = [layer.kind for layer in net.layers]
    downs = sum(down for _, down, _ in LEVELS)
    blocks = sum(down + plain for _, down, plain in LEVELS)
    if kinds != expected_layout() or tags != blocks + 2 * downs or net.input_size != (INPUT_SIZE, INPUT_SIZE):
        raise DlibFormatError(f"{path}: a dlib network, but not the face ResNet layout faceprint rebuilds "
                              f"({len(kinds)} layers, input {net.input_size})")


def convert_dlib(path: str | Path | None = None) -> FaceEmbedder:
    """A faceprint model holding dlib's network: chips as dlib makes them, unit-length output, squared L2."""
    path = Path(path) if path is not None else find_dlib_weights()
    net = read_dlib_net(path)
    pre = Preprocessing(input_size=INPUT_SIZE, crop=1.0, pad=0.0, mean=net.input_mean, std=256.0,
                        alignment="dlib_chip", align_size=INPUT_SIZE)
    # dlib compares raw descriptors by Euclidean distance under `distance_threshold` (0.6); on unit vectors the
    # same rule is a squared distance under 0.6^2, a starting point until `faceprint calibrate` fits one.
    thresh = net.loss.get("distance_threshold", 0.6)
    config = ModelConfig(backbone="dlib_resnet_v1", embedding_size=128, preprocessing=pre, embedding_bn=False,
                         threshold=float(thresh) ** 2,
                         info={"source": f"dlib {DLIB_FILE}, converted by `faceprint import dlib`",
                               "licence": LICENCE, "dlib_loss": net.loss,
                               "reference": "http://blog.dlib.net/2017/02/high-quality-face-recognition-with-deep.html"})
    model = FaceEmbedder(config)
    _load_weights(model, net)
    return model.eval()


def _load_weights(model: FaceEmbedder, net: DlibNet) -> None:
    convs = [layer for layer in net.layers if layer.kind == "con"]
    affines = [layer for layer in net.layers if layer.kind == "affine"]
    torch_convs = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    torch_affines = [m for m in model.backbone.modules() if isinstance(m, Affine)]
    with torch.no_grad():
        for layer, conv in zip(convs, torch_convs, strict=True):
            n, nr, nc, sy, sx, py, px = layer.ints
            cin = conv.weight.shape[1]
            if (n, nr, nc, sy, sx, py, px) != (conv.out_channels, *conv.kernel_size, *conv.stride, *conv.padding):
                raise DlibFormatError(f"convolution {layer.ints} does not match the rebuilt network's {conv}")
            p = torch.from_numpy(layer.params.ravel())  # type: ignore[union-attr]
            w = n * cin * nr * nc
            conv.weight.copy_(p[:w].view(n, cin, nr, nc))
            conv.bias.copy_(p[w:])
        for layer, aff in zip(affines, torch_affines, strict=True):
            p = torch.from_numpy(layer.params.ravel())  # type: ignore[union-attr]
            c = aff.weight.numel()
            aff.weight.copy_(p[:c])
            aff.bias.copy_(p[c:])
        fc = net.layers[-1].params
        model.project.weight.copy_(torch.from_numpy(np.ascontiguousarray(fc.T)))  # type: ignore[union-attr]
