"""The registry of spike codes: one class a code, registered once by name (``@register_code``).

Old files (saved models, recordings) name a code by its record: ``kind`` (``"gif"`` | ``"ternary"``), whether it
is ``adaptive`` (a threshold ``k`` is set) and ``bitwise``. :func:`from_record` finds the class whose class
attributes match that triple, so a file written before the registry existed reads back as the same code.
"""
from __future__ import annotations

from dataclasses import fields

_CODES: dict[str, type] = {}


def register_code(cls: type) -> type:
    """Register a :class:`~neuro_llm.spiking.codes.base.SpikeCode` subclass under ``cls.name`` (a decorator)."""
    name = cls.name
    if name in _CODES and _CODES[name] is not cls:
        raise ValueError(f"spike code {name!r} is already registered ({_CODES[name].__name__})")
    clash = [other.name for other in _CODES.values() if other is not cls and _signature(other) == _signature(cls)]
    if clash:
        raise ValueError(f"spike code {name!r} has the same record (kind, adaptive, bitwise) as {clash[0]!r}")
    _CODES[name] = cls
    return cls


def unregister_code(name: str) -> None:
    """Remove a registered code (tests that register a toy one)."""
    _CODES.pop(name, None)


def code_class(name: str) -> type:
    """The code class registered as ``name``."""
    try:
        return _CODES[name]
    except KeyError:
        raise ValueError(f"unknown spike code {name!r}: registered {', '.join(_CODES)}") from None


def code_names() -> tuple[str, ...]:
    """The names of every registered code, in registration order."""
    return tuple(_CODES)


def registered_codes() -> tuple[type, ...]:
    """Every registered code class, in registration order."""
    return tuple(_CODES.values())


def _signature(cls: type) -> tuple:
    return cls.kind, bool(cls.adaptive), bool(cls.bitwise)


def recorded_code(kind: str, bitwise: bool = False, adaptive: bool | None = None) -> type:
    """The code class of a recording's ``(code_kind, bitwise)`` pair (recordings do not store ``adaptive``:
    ``None`` takes the first registered match; codes that share a pair agree on every class attribute the
    analysis reads: ``signed``, ``encode_ops``, ``decode_ops``, ``spike_train``)."""
    for cls in _CODES.values():
        if cls.kind == kind and bool(cls.bitwise) == bool(bitwise) and adaptive in (None, bool(cls.adaptive)):
            return cls
    raise ValueError(f"no registered spike code records as kind={kind!r}, bitwise={bitwise}, adaptive={adaptive}")


def from_record(kind: str, per_step: int, clip: float = 1.0, k: float | None = None, cap: int | None = None,
                bitwise: bool = False):
    """The code an old ``SpikeCode(kind, per_step, clip, k, cap, bitwise)`` record stands for (what saved models
    store: ``dataclasses.asdict`` of the code)."""
    cls = recorded_code(kind, bitwise, adaptive=k is not None)
    given = {"per_step": per_step, "clip": clip, "k": k, "cap": cap}
    defaults = {"clip": 1.0, "k": None, "cap": None}
    accepted = {f.name for f in fields(cls) if f.init}
    extra = [name for name, value in given.items() if name not in accepted and value != defaults.get(name)]
    if extra:
        raise ValueError(f"spike code {cls.name!r} takes no {', '.join(extra)}")
    return cls(**{name: value for name, value in given.items() if name in accepted})
