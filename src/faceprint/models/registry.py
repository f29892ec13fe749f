"""Backbones by name: a model file records the name, and loading builds the same network from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from faceprint.errors import InputError


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    build: Callable[[int], nn.Module]  # input size -> module with an `out_features` attribute
    input_size: int  # the size it is meant for
    description: str


_BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(name: str, input_size: int, description: str) -> Callable:
    def wrap(build: Callable[[int], nn.Module]) -> Callable[[int], nn.Module]:
        if name in _BACKBONES:
            raise InputError(f"backbone {name!r} registered twice")
        _BACKBONES[name] = BackboneSpec(name, build, input_size, description)
        return build

    return wrap


def backbone_spec(name: str) -> BackboneSpec:
    try:
        return _BACKBONES[name]
    except KeyError:
        raise InputError(f"unknown backbone {name!r}; choose one of {list_backbones()}") from None


def list_backbones() -> list[str]:
    return sorted(_BACKBONES)
