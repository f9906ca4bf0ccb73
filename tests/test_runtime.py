"""What a run says about the CPU it gets (runtime.CpuLoad): its threads always, a busy machine once."""

import os

import pytest
import torch

from deep_kmeans.runtime import LOADED_FACTOR, CpuLoad, cpu_load


def test_an_idle_machine_is_not_slowed_and_not_warned_about():
    idle = CpuLoad(threads=2, cores=2, load=0.0)
    assert idle.slowdown == 1.0 and not idle.loaded and idle.warning() is None
    assert idle.describe() == "2 torch threads on 2 cores, load average 0.0"
    assert CpuLoad(threads=2, cores=4, load=1.5).slowdown == 1.0  # 3.5 threads' worth of work fit on 4 cores
    assert CpuLoad(threads=1, cores=4, load=None).describe() == "1 torch thread on 4 cores"


def test_a_busy_machine_is_said_with_the_fair_share_slowdown():
    # three other 2-thread trainings on 2 cores (load 6) and this run's 2 threads: 8 threads share 2 cores
    busy = CpuLoad(threads=2, cores=2, load=6.0)
    assert busy.loaded and busy.slowdown == pytest.approx(4.0)
    text = busy.warning()
    assert "load average 6.0 on 2 cores" in text and "about 4.0x as long" in text and "OMP_NUM_THREADS=1" in text
    # "well above the cores": at LOADED_FACTOR × cores, not at a load the cores hold
    assert not CpuLoad(threads=2, cores=2, load=2.0).loaded
    assert CpuLoad(threads=2, cores=2, load=LOADED_FACTOR * 2).loaded


def test_the_load_of_this_process_is_read_from_the_machine():
    load = cpu_load()
    assert load.threads == torch.get_num_threads()
    assert 1 <= load.cores <= (os.cpu_count() or 1)
    assert load.load is None or load.load >= 0


def test_torch_threads_are_kept_whatever_the_block_sets():
    from deep_kmeans.runtime import torch_threads_kept

    before = torch.get_num_threads()
    with torch_threads_kept():
        torch.set_num_threads(before + 1)  # what numba's OpenMP layer does when it first starts
    assert torch.get_num_threads() == before
