"""benchmarks/gpu_results.py: the GPU call's one results file gives now / before on the same card, and is written
whatever a part left."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_results.py"


def tae(warmup, update, cluster, predict):
    phase = {"warmup": warmup, "update": update, "cluster": cluster}
    config = {"n": 8192, **{p: {"samples_per_s": v} for p, v in phase.items()}, "predict_samples_per_s": predict}
    return {"gray_mnist_16patches_depth8": config, "ratios": {"resnet/gray warmup throughput": 1.0}}


def write(parts: Path, folder: str, record: dict) -> None:
    record = {"size_preset": {"tae_n": 8192, "tae_epochs": 2}, **record}  # what speed.py records of its size
    (parts / folder).mkdir(parents=True, exist_ok=True)
    (parts / folder / "speed-cuda.json").write_text(json.dumps(record))


def results(tmp_path: Path) -> str:
    out = tmp_path / "gpu-results.md"
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "parts"), str(out), "--wall-s", "500"], check=True,
                   capture_output=True)
    return out.read_text()


def test_the_results_give_each_phase_now_against_the_loop_before_on_the_same_card(tmp_path):
    parts = tmp_path / "parts"
    provenance = {"machine": {"device": "cuda", "gpu": "NVIDIA H100", "cpu": "x"}, "versions": {"torch": "2"}}
    write(parts, "speed", {"provenance": provenance, "tae": tae(100_000, 40_000, 60_000, 400_000)})
    write(parts, "baseline", {"provenance": provenance, "tae": tae(10_000, 5_000, 5_000, 50_000)})
    (parts / "baseline" / "COMMIT").write_text("372d6b2\n")
    text = results(tmp_path)
    assert "the loop of 372d6b2 (before issue 25)" in text and "8192 rows of synthetic data, 2 epochs a phase, stored views in the update phase." in text
    assert "| gray_mnist_16patches_depth8 | warmup | 10,000 | 100,000 | 10.0× |" in text
    assert "| gray_mnist_16patches_depth8 | update | 5,000 | 40,000 | 8.0× |" in text
    assert "| gray_mnist_16patches_depth8 | cluster | 5,000 | 60,000 | 12.0× |" in text
    assert "| gray_mnist_16patches_depth8 | predict | 50,000 | 400,000 | 8.0× |" in text


def test_a_missing_or_unreadable_baseline_is_said_and_the_rest_is_still_written(tmp_path):
    parts = tmp_path / "parts"
    provenance = {"machine": {"device": "cuda", "gpu": "NVIDIA H100", "cpu": "x"}, "versions": {"torch": "2"}}
    write(parts, "speed", {"provenance": provenance, "tae": tae(100_000, 40_000, 60_000, 400_000)})
    assert "No baseline record" in results(tmp_path)
    write(parts, "baseline", {"tae": {"gray_mnist_16patches_depth8": {"n": 1, "warmup": {"samples_per_s": 0}}}})
    text = results(tmp_path)
    assert "could not be read (ZeroDivisionError" in text and "## Records" in text


def test_sizes_that_differ_between_the_two_records_are_said(tmp_path):
    parts = tmp_path / "parts"
    provenance = {"machine": {"device": "cuda", "gpu": "NVIDIA H100", "cpu": "x"}, "versions": {"torch": "2"}}
    write(parts, "speed", {"provenance": provenance, "size_preset": {"tae_n": 16384, "tae_epochs": 3},
                           "tae": tae(100_000, 40_000, 60_000, 400_000)})
    write(parts, "baseline", {"provenance": provenance, "tae": tae(10_000, 5_000, 5_000, 50_000)})
    assert "8192 rows of synthetic data, 2 epochs a phase, stored views in the update phase; now 16384 rows, 3 " \
           "epochs: NOT the same sizes." in results(tmp_path)
