"""Backbones by name: a model file records the name, and loading builds the same network from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from faceprint.errors import InputError


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    # input size (and, for a graph backbone, graph=) -> module with an `out_features` attribute
    build: Callable[..., nn.Module]
    input_size: int  # the size it is meant for
    description: str
    graph: bool = False  # built from a layer graph that travels in the model file (ModelConfig.graph)


_BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(name: str, input_size: int, description: str, graph: bool = False) -> Callable:
    def wrap(build: Callable[[int], nn.Module]) -> Callable[[int], nn.Module]:
        if name in _BACKBONES:
            raise InputError(f"backbone {name!r} registered twice")
        _BACKBONES[name] = BackboneSpec(name, build, input_size, description, graph)
        return build

    return wrap


def backbone_spec(name: str) -> BackboneSpec:
    try:
        return _BACKBONES[name]
    except KeyError:
        raise InputError(f"unknown backbone {name!r}; choose one of {list_backbones()}") from None


def list_backbones(graph: bool | None = None) -> list[str]:
    """Registered names; graph=False: those a config alone builds (trainable from scratch)."""
    return sorted(n for n, s in _BACKBONES.items() if graph is None or s.graph == graph)
