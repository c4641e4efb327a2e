"""The named choices of a run, as string enums: users and files pass the strings (``"explicit"``), library code
compares members (``Mode(value) is Mode.EXPLICIT``). A member equals its string, prints as it, and writes to JSON
as it."""
from __future__ import annotations

from enum import Enum


class Choice(str, Enum):
    """A string enum whose members print as their value."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value, what: str):
        """``cls(value)``, or a ``ValueError`` naming ``what`` and the accepted values."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown {what} {value!r}: accepted {', '.join(cls.values())}") from None

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(member.value for member in cls)


class Mode(Choice):
    """How spiking modules run: every spike formed (``explicit``) or the equal quantizer counts (``collapsed``)."""
    EXPLICIT = "explicit"
    COLLAPSED = "collapsed"


class KeyScale(Choice):
    """K's threshold in spiking attention, both causal: per token, or per channel over the tokens so far."""
    TOKEN = "token"
    RUNNING = "running"


class Threshold(Choice):
    """SDLLM's threshold: adaptive ``mean|x|/k`` per token (the authors' code), or the old max-scaled comparison."""
    MEAN = "mean"
    MAX = "max"


class SpikeTrain(Choice):
    """SDLLM's adaptive train: unit ±k spikes (``ternary``) or the count sent bit by bit (``bitwise``)."""
    TERNARY = "ternary"
    BITWISE = "bitwise"


class WeightSpikes(Choice):
    """SpikeLLM's weights: integer codes, or sparse ternary GIF weight spikes."""
    INT = "int"
    TERNARY = "ternary"
