"""Keep our neurons out of snntorch's class-wide registry.

``snntorch.SpikingNeuron.__init__`` appends every neuron to the class list ``SpikingNeuron.instances``
(used by ``reset_hidden``/``detach_hidden``), which keeps each one alive for the life of the process:
a leak once a model holds thousands of neurons.
"""
from __future__ import annotations

from snntorch._neurons.neurons import SpikingNeuron


def forget_instance(neuron: SpikingNeuron) -> None:
    """Remove ``neuron`` (by identity) from ``SpikingNeuron.instances``; it is normally the last entry."""
    instances = SpikingNeuron.instances
    if instances and instances[-1] is neuron:
        instances.pop()
        return
    for i in range(len(instances) - 1, -1, -1):
        if instances[i] is neuron:
            del instances[i]
            return
