"""The model registry: explicit ``@register_model`` builders, ``create_model`` and ``list_models``.

A builder is a function named after the architecture that takes keyword overrides of its config dataclass and
returns an ``nn.Module``. Overrides go through :func:`apply_overrides` (``dataclasses.replace``), never through
``**kwargs`` into modules, so a misspelt field raises ``TypeError`` naming it.

Every registered model is an encoder that maps ``(batch, n_channels, n_times)`` to ``(batch, embed_dim)``, exposes
``embed_dim: int`` and ``config`` (its frozen dataclass), and, when it can be pretrained on its own,
``pretrain_loss(x, generator=None) -> (loss, details)``. The registry-wide tests in
``tests/biosig/models/test_registry_models.py`` hold every registered name to that contract.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from biosig.errors import BiosigError

__all__ = [
    "UnknownModelError",
    "apply_overrides",
    "create_model",
    "get_model_builder",
    "list_models",
    "register_model",
]

log = logging.getLogger(__name__)

ModelBuilder = Callable[..., nn.Module]
B = TypeVar("B", bound=ModelBuilder)
C = TypeVar("C")

_MODELS: dict[str, ModelBuilder] = {}


class UnknownModelError(BiosigError, ValueError):
    """A model name that no builder is registered under."""

    def __init__(self, name: str) -> None:
        self.name = name
        available = ", ".join(sorted(_MODELS)) or "none (is biosig.models imported?)"
        super().__init__(f"unknown model {name!r}; available: {available}")


def register_model(fn: B) -> B:
    """Register ``fn`` under its ``__name__``; a second builder with the same name is an error."""
    name = fn.__name__
    if name in _MODELS and _MODELS[name] is not fn:
        raise ValueError(f"model {name!r} is already registered (by {_MODELS[name].__module__})")
    _MODELS[name] = fn
    return fn


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_MODELS)


def get_model_builder(name: str) -> ModelBuilder:
    """The builder registered under ``name``; :class:`UnknownModelError` lists the available names."""
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownModelError(name) from None


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build model ``name`` with its registered config, changed by ``overrides`` (config field -> value).

    Raises
    ------
    UnknownModelError
        ``name`` is not registered.
    TypeError
        An override names a field the model's config does not have.
    ValueError
        The resulting config fails its own validation.
    """
    model = get_model_builder(name)(**overrides)
    log.debug("created model %s with overrides %s", name, overrides)
    return model


def apply_overrides(config: C, overrides: dict[str, Any]) -> C:
    """``dataclasses.replace(config, **overrides)``, with a ``TypeError`` that lists the valid field names."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    fields = [f.name for f in dataclasses.fields(config) if f.init]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise TypeError(
            f"{type(config).__name__} has no field(s) {', '.join(map(repr, unknown))}; fields: {', '.join(fields)}"
        )
    return dataclasses.replace(config, **overrides)
