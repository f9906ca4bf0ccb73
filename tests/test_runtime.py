"""What a run says about the CPU it gets (runtime.CpuLoad): its threads always, a busy machine once."""

import os

import pytest
import torch

from deep_kmeans import runtime
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


def test_other_processes_cores_are_measured_not_read_from_the_lagging_load_average():
    # one busy process beside a 2-thread run, a minute's load average not yet risen: loaded all the same
    beside_one = CpuLoad(threads=2, cores=2, load=1.3, others=1.0)
    assert beside_one.loaded and "other processes busy on 1.0 cores" in beside_one.describe()
    # a 1-thread run beside it fits on the free core; a shell's flicker is no load
    assert not CpuLoad(threads=1, cores=2, load=1.3, others=1.0).loaded
    assert not CpuLoad(threads=2, cores=2, load=6.0, others=0.3).loaded
    assert CpuLoad(threads=2, cores=2, load=6.0, others=0.3).slowdown == pytest.approx(1.15)


def test_the_warning_gives_the_measured_stall_of_threads_that_share_cores():
    # fair sharing says 1.5x, a floor: the measured stall (a small step 30x slower on 2 threads than on 1) is said
    busy = CpuLoad(threads=2, cores=2, load=1.3, others=1.0, stall=30.0)
    assert busy.slowdown == pytest.approx(1.5)
    text = busy.warning()
    assert "other processes kept 1.0 of its 2 cores busy just now" in text and "at least 1.5x as long" in text
    assert "erratically far longer" in text and "just took 30x as long with 2 torch threads as with 1" in text
    assert "OMP_NUM_THREADS=1" in text


def test_a_sample_of_the_cpus_counts_the_other_processes_not_this_one(monkeypatch):
    ticks = iter([1000, 1000 + 100])  # 100 busy ticks in the sample (1 s at 100 ticks a second)
    monkeypatch.setattr(runtime, "_busy_jiffies", lambda cpus: next(ticks))
    monkeypatch.setattr(runtime.os, "sysconf", lambda name: 100)
    clock = iter([0.0, 1.0])
    monkeypatch.setattr(runtime.time, "perf_counter", lambda: next(clock))
    cpu = iter([5.0, 5.2])  # this process's own threads ran 0.2 s of it
    monkeypatch.setattr(runtime.time, "process_time", lambda: next(cpu))
    monkeypatch.setattr(runtime.time, "sleep", lambda s: None)
    assert runtime.others_busy(1.0, {0, 1}) == pytest.approx(0.8)
    assert runtime.others_busy(0.0, {0, 1}) is None  # sampling off


def test_on_this_machine_the_sample_and_the_stall_are_real_numbers():
    others = runtime.others_busy(0.05, runtime.os.sched_getaffinity(0))
    assert others is None or 0 <= others <= len(runtime.os.sched_getaffinity(0))
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    drawn = torch.rand(1)
    torch.manual_seed(0)
    assert runtime.thread_stall(2, seconds=0.01) > 0 and torch.get_num_threads() == threads
    assert torch.equal(torch.rand(1), drawn)  # torch's global generator untouched
