"""The notebooks run top to bottom (quick sizes: 32 tokens, 2 blocks, 64 calibration tokens) and draw their figures.

The committed notebooks hold the outputs of a full-size run (256 tokens, all 30 blocks); this executes a copy."""
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow   # real model / notebooks / lm-eval: minutes on a CPU; CI runs them

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
QUICK = {"NEURO_LLM_NOTEBOOK_TOKENS": "32", "NEURO_LLM_NOTEBOOK_BLOCKS": "2", "NEURO_LLM_NOTEBOOK_CALIB_TOKENS": "64",
         "OMP_NUM_THREADS": "1"}  # tiny tensors: one thread avoids OpenMP spinning on a shared CPU


def test_the_three_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == ["01_spike_rasters.ipynb", "02_firing_rates.ipynb", "03_energy_budget.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_draws(path, monkeypatch):
    saved = nbformat.read(path, as_version=4)
    saved_images = sum("image/png" in o.get("data", {}) for c in saved.cells for o in c.get("outputs", []))
    assert saved_images >= 3, "the committed notebook should hold the figures of a full run"
    assert not any(o.output_type == "error" for c in saved.cells for o in c.get("outputs", []))

    for key, value in QUICK.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this environment
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    assert images == saved_images, f"{images} figures drawn, the saved run has {saved_images}"
    print(f"{path.name}: {seconds:.1f} s, {images} figures")
