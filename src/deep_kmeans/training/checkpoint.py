"""Checkpoint and resume for training loops, through a key → object store from the catalog."""

from __future__ import annotations

import hashlib
import json
import logging
import random
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)


def run_key(prefix: str, *parts: Any) -> str:
    """A store key unique to a phase, its configuration, its data and its seed."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return f"{prefix}-{hashlib.sha256(blob).hexdigest()[:16]}"


def rng_state(generator: torch.Generator) -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "generator": generator.get_state(),
    }


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    generator.set_state(state["generator"])


def cpu_state_dict(module: torch.nn.Module) -> dict:
    """A module's state_dict with every tensor on the CPU, so it loads on any device."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


class Checkpointer:
    """Saves a phase's state every ``every`` epochs under ``key``; resumes from it; clears it at the end.

    ``store`` is a :class:`deep_kmeans.io.DirectoryStore` (or None: no checkpoints).
    """

    def __init__(self, store, key: str, every: int = 10, resume: bool = True):
        if every < 0:
            raise ValueError(f"checkpoint_every must be ≥ 0 (0 = never), got {every}")
        self.store, self.key, self.every, self.resume = store, key, int(every), bool(resume)

    def load(self) -> dict | None:
        if self.store is None or not self.resume:
            return None
        state = self.store.get(self.key)
        if state is not None:
            logger.info("Resuming %s from its checkpoint after epoch %d", self.key, state["epoch"])
        return state

    def maybe_save(self, epoch: int, total: int, make_state) -> None:
        if self.store is None or self.every == 0 or epoch % self.every or epoch >= total:
            return
        self.store.put(self.key, {"epoch": epoch, **make_state()})

    def clear(self) -> None:
        if self.store is not None:
            self.store.delete(self.key)
