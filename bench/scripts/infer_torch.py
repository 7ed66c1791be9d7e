#!/usr/bin/env python3
"""PyTorch baseline for `Tessera.Bench onnx`: the same official models as bench/scripts/onnx_export.py (same random
weights and inputs), timed in PyTorch — float32, and bfloat16 under CPU autocast where the CPU has avx512_bf16/AMX.
Run with Debian 12's PyTorch 1.13 or, through TESSERA_BENCH_PYTHON, Debian 13's 2.6 (setup-torch26-chroot.sh).
Usage: infer_torch.py THREADS REPS CACHE MODEL. Prints `key value` lines: fp32_s, bf16_s (median seconds per call)."""
import os, sys, time
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_export import build  # noqa: E402

threads, reps, cache, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
torch.set_num_threads(threads)
print("pytorch-cpu:", f"torch {torch.__version__}; ATen {torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, 'cpu') else 'unknown'}; threads {torch.get_num_threads()}")
model, inputs, _, _ = build(name, cache)
flags = open("/proc/cpuinfo").read()


inner = 20 if name == "samdec" else 1  # the decoder takes milliseconds: each timed call is 20 calls, as in the bench


def timed(autocast):
    times = []
    for i in range(reps + 1):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            t0 = time.perf_counter()
            for _ in range(inner):
                model(*inputs)
            if i > 0:  # the first call warms up
                times.append((time.perf_counter() - t0) / inner)
    return sorted(times)[len(times) // 2]


print("fp32_s", timed(False))
if "avx512_bf16" in flags or "amx_bf16" in flags:
    print("bf16_s", timed(True))
