"""One rank of the 2-process TAKE run of ``test_take_distributed.py`` (launched by torchrun; not a test).

``python -m torch.distributed.run --standalone --nproc_per_node=2 take_ddp_worker.py OUT BATCH MODE...``:
fit_take on the test's tiny digits with per-rank batch BATCH, once per ``knet_centers`` MODE; rank 0 pickles
``{mode: result}`` to OUT, and every rank writes the ranks it saw (``OUT.rank<r>``) so the test can tell that
both took part.
"""

import pickle
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_take_distributed import fit, tiny_data  # noqa: E402

from deep_kmeans.methods.distributed import process_group  # noqa: E402

if __name__ == "__main__":
    torch.set_num_threads(1)
    out, batch, modes = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    result = {mode: fit(*tiny_data(), batch, mode) for mode in modes}
    group = process_group("cpu")
    Path(f"{out}.rank{group.rank}").write_text(f"{group.rank}/{group.world_size}")
    if group.is_main:
        out.write_bytes(pickle.dumps(result))
