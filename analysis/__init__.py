"""Analysis of spiking runs: recorders, exact operation counts, HDF5 recordings, energy models and plots."""
