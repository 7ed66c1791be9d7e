#!/usr/bin/env python3
"""numpy baseline for the confusion-matrix accumulator: np.bincount(N*gt + pred) over the
non-ignored pixels, the way mmsegmentation-style evaluators count. Reads the raw uint8 maps that
Tessera.Bench wrote, prints the best-of-R time in seconds and the counts' checksum."""
import sys, time
import numpy as np

gt_path, pred_path, n, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
gt = np.fromfile(gt_path, dtype=np.uint8)
pred = np.fromfile(pred_path, dtype=np.uint8)
best = float("inf")
for _ in range(reps):
    t = time.perf_counter()
    mask = gt != 255
    counts = np.bincount(n * gt[mask].astype(np.int64) + pred[mask], minlength=n * n)
    best = min(best, time.perf_counter() - t)
print(f"{best:.6f} {int((counts * np.arange(counts.size)).sum())}")
