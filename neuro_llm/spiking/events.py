"""Spike events and who observes them: encoders call :func:`notify` with an :class:`Encoded` event; nothing
happens unless an observer is active (``with observing(obs): ...``). An observer is any object with
``on_encode(event)``; the active ones are a context variable (no global state).
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

import torch

Tensor = torch.Tensor
_OBSERVERS: contextvars.ContextVar[tuple] = contextvars.ContextVar("neuro_llm_observers", default=())


@dataclass
class Encoded:
    """One activation tensor turned into spikes at ``site`` (e.g. ``layers.3.mlp.down_proj``)."""
    site: str
    layer: int
    code: object                 # SpikeCode
    count: Tensor                # integer counts [..., C]
    steps: int                   # steps of every channel of this event
    spikes: Tensor | None = None  # [T, ..., C] in explicit mode, None in collapsed mode
    channels: Tensor | None = None  # original channel index of each column (salient groups are permuted)
    clipped: int | None = None    # values whose count the clamp cut (None: the code cannot clip)
    # (x [M, tiles·width], tiles, width, count shape): the encoder's GEMM operand, count[m, c] = Σ_t x[m, t·width + c]
    # (c < C); given instead of ``count`` (None) to observers that read operands (``operand_suffices``)
    operand: tuple | None = None

    def counts(self) -> Tensor:
        """``count``, or the counts summed from ``operand`` (its pad columns dropped), shaped ``[..., C]``."""
        if self.count is not None:
            return self.count
        x, tiles, width, shape = self.operand
        columns = shape[-1]
        return x.float()[:, :tiles * width].reshape(x.shape[0], tiles, width)[..., :columns].sum(1).reshape(shape)

    @property
    def shape(self) -> tuple:
        """The counts' shape ``[..., C]`` (without forming them)."""
        return tuple(self.operand[3]) if self.count is None else tuple(self.count.shape)


def active() -> bool:
    return bool(_OBSERVERS.get())


def counts_suffice() -> bool:
    """Whether every active observer (none: trivially) works from counts alone (``counts_suffice = True``),
    so encoders may integrate their spike trains without materializing them."""
    return all(getattr(observer, "counts_suffice", False) for observer in _OBSERVERS.get())


def current() -> tuple:
    """The active observers, innermost last."""
    return _OBSERVERS.get()


def operand_suffices() -> bool:
    """Whether every active observer reads an encoder's GEMM operand as well as its counts
    (``operand_suffices = True``), so a linear layer may hand over the operand instead of forming counts."""
    return all(getattr(observer, "operand_suffices", False) for observer in _OBSERVERS.get())


def notify(event: Encoded) -> None:
    for observer in _OBSERVERS.get():
        observer.on_encode(event)


@contextlib.contextmanager
def observing(*observers):
    token = _OBSERVERS.set(_OBSERVERS.get() + tuple(observers))
    try:
        yield observers
    finally:
        _OBSERVERS.reset(token)


@contextlib.contextmanager
def replaced(*observers):
    """Only ``observers`` see what runs inside (the active ones are set aside)."""
    token = _OBSERVERS.set(tuple(observers))
    try:
        yield observers
    finally:
        _OBSERVERS.reset(token)


@contextlib.contextmanager
def silenced():
    """No observer sees what runs inside (e.g. blocks before the first simulated one)."""
    token = _OBSERVERS.set(())
    try:
        yield
    finally:
        _OBSERVERS.reset(token)
