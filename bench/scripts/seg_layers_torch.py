#!/usr/bin/env python3
"""PyTorch side of Tessera.Bench seglayers: the layers of segspeed's DeepLabV3 (small ResNet-18, width 32, batch 16 of
64x64) timed one by one, forward + backward in training mode (a dense output gradient), and the whole training step and
inference. Usage: seg_layers_torch.py THREADS REPS. Prints `name milliseconds` (median wall per call) and
`name-cpu milliseconds` (median process CPU time per call)."""
import os, sys, time, statistics
import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
torch.set_num_threads(threads)
torch.manual_seed(0)
B = 16


def timed(name, f):
    f(); f()
    walls, cpus = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        f()
        walls.append(time.perf_counter() - w); cpus.append(time.process_time() - c)
    print(f"{name} {1000 * statistics.median(walls):.3f}")
    print(f"{name}-cpu {1000 * statistics.median(cpus):.3f}")


def layer(name, m, shape):
    x = torch.randn(*shape, requires_grad=True)
    g = torch.randn_like(m(x))
    def f():
        m.zero_grad(); x.grad = None
        (m(x) * g).sum().backward()
    timed(name, f)


def conv(i, o, k=3, s=1, d=1): return nn.Conv2d(i, o, k, s, d * (k // 2), d, bias=False)


layer("stem-conv3-32s2", conv(3, 32, s=2), (B, 3, 64, 64))
layer("conv3-32@32", conv(32, 32), (B, 32, 32, 32))
layer("conv3-64@16", conv(64, 64), (B, 64, 16, 16))
layer("conv3-128@8", conv(128, 128), (B, 128, 8, 8))
layer("conv3-256d2@4", conv(256, 256, d=2), (B, 256, 4, 4))
layer("conv1-64s2@32", conv(32, 64, k=1, s=2), (B, 32, 32, 32))
layer("aspp-conv3-256-128d6@4", conv(256, 128, d=6), (B, 256, 4, 4))
layer("conv1-640-128@4", conv(640, 128, k=1), (B, 640, 4, 4))
layer("classifier-128-11@4", nn.Conv2d(128, 11, 1), (B, 128, 4, 4))
layer("bn-32@32", nn.BatchNorm2d(32).train(), (B, 32, 32, 32))
layer("bn-256@4", nn.BatchNorm2d(256).train(), (B, 256, 4, 4))
layer("relu-32@32", nn.ReLU(), (B, 32, 32, 32))
layer("add-32@32", type("Add", (nn.Module,), {"forward": lambda s, x: x + x})(), (B, 32, 32, 32))
layer("upsample-11-4to64", type("Up", (nn.Module,), {"forward": lambda s, x: F.interpolate(x, (64, 64), mode="bilinear", align_corners=False)})(), (B, 11, 4, 4))
layer("avgpool-256@4", nn.AdaptiveAvgPool2d(1), (B, 256, 4, 4))
logits = torch.randn(B, 11, 64, 64, requires_grad=True); target = torch.randint(0, 11, (B, 64, 64))
def ce():
    logits.grad = None
    F.cross_entropy(logits, target).backward()
timed("cross-entropy", ce)
params = [torch.randn(3977899 // 4, requires_grad=True) for _ in range(4)]
for p in params: p.grad = torch.randn_like(p)
opt = torch.optim.AdamW(params, 2e-3, weight_decay=1e-4)
timed("adamw-4M", opt.step)

sys.argv = [sys.argv[0], str(threads)]
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "seg_speed_torch.py")).read()
exec(src.split("def bench(")[0])  # the models
model = DeepLabV3()
opt = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=1e-4)
x = torch.rand(B, 3, 64, 64); y = torch.randint(0, C, (B, 64, 64))
model.train()
def step():
    opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()
timed("deeplabv3-train-step", step)
def fwd_bwd():
    model.zero_grad(); F.cross_entropy(model(x), y).backward()
timed("deeplabv3-fwd-bwd", fwd_bwd)
def backbone_train():
    model.zero_grad(); (model.bb(x)[3] * 1.0).sum().backward()
timed("deeplabv3-backbone-fwd-bwd", backbone_train)
model.eval(); xi = torch.rand(32, 3, 64, 64)
def infer():
    with torch.no_grad(): model(xi)
timed("deeplabv3-infer32", infer)
def bb_infer():
    with torch.no_grad(): model.bb(xi)
timed("deeplabv3-backbone-infer32", bb_infer)
