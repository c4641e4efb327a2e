"""Models in and out: offline loading, saved spiking models, atomic writes."""
