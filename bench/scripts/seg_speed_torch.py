#!/usr/bin/env python3
"""PyTorch baseline for Tessera.Bench segspeed: the same GCN-Net and DeepLabV3 (small ResNet-18 of base width 32,
3x3 stride-2 stem without max-pool, 64x64 inputs, 11 classes, GCN score maps padded to 16 channels), timed the
same way. Prints one line per measurement: name images_per_second."""
import os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_host import describe

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
print(describe())
W, C, S = 32, 11, 16

class Basic(nn.Module):
    def __init__(s, i, o, stride, dil):
        super().__init__()
        s.conv1 = nn.Conv2d(i, o, 3, stride, dil, dil, bias=False); s.bn1 = nn.BatchNorm2d(o)
        s.conv2 = nn.Conv2d(o, o, 3, 1, dil, dil, bias=False); s.bn2 = nn.BatchNorm2d(o)
        s.down = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o)) if stride != 1 or i != o else None
    def forward(s, x):
        y = F.relu(s.bn1(s.conv1(x))); y = s.bn2(s.conv2(y))
        return F.relu(y + (x if s.down is None else s.down(x)))

class ResNet18(nn.Module):
    def __init__(s, os=32):
        super().__init__()
        s.conv1 = nn.Conv2d(3, W, 3, 2, 1, bias=False); s.bn1 = nn.BatchNorm2d(W)
        dil, inp, layers = 1, W, []
        for planes, stride, d in [(W, 1, False), (2 * W, 2, False), (4 * W, 2, os == 8), (8 * W, 2, os <= 16)]:
            prev = dil
            if d: dil *= stride; stride = 1
            layers.append(nn.Sequential(Basic(inp, planes, stride, prev), Basic(planes, planes, 1, dil))); inp = planes
        s.layers = nn.ModuleList(layers)
    def forward(s, x):
        x = F.relu(s.bn1(s.conv1(x))); out = []
        for l in s.layers: x = l(x); out.append(x)
        return out

class GCN(nn.Module):
    def __init__(s, i, o, k):
        super().__init__(); p = (k - 1) // 2
        s.l1 = nn.Conv2d(i, o, (k, 1), padding=(p, 0)); s.l2 = nn.Conv2d(o, o, (1, k), padding=(0, p))
        s.r1 = nn.Conv2d(i, o, (1, k), padding=(0, p)); s.r2 = nn.Conv2d(o, o, (k, 1), padding=(p, 0))
    def forward(s, x): return s.l2(s.l1(x)) + s.r2(s.r1(x))

class BR(nn.Module):
    def __init__(s, c):
        super().__init__(); s.c1 = nn.Conv2d(c, c, 3, padding=1); s.c2 = nn.Conv2d(c, c, 3, padding=1)
    def forward(s, x): return x + s.c2(F.relu(s.c1(x)))

def up(x, h, w): return F.interpolate(x, (h, w), mode="bilinear", align_corners=False)

class GcnNet(nn.Module):
    def __init__(s, k=15):
        super().__init__(); s.bb = ResNet18()
        s.gcn = nn.ModuleList([GCN(c, S, k) for c in [W, 2 * W, 4 * W, 8 * W]]); s.br = nn.ModuleList([BR(S) for _ in range(9)])
    def forward(s, x):
        f = s.bb(x); sc = [s.br[i](s.gcn[i](f[i])) for i in range(4)]; y = sc[3]; b = 4
        for i in (2, 1, 0): y = s.br[b](up(y, sc[i].shape[2], sc[i].shape[3]) + sc[i]); b += 1
        y = s.br[7](up(y, y.shape[2] * 2, y.shape[3] * 2)); y = s.br[8](up(y, x.shape[2], x.shape[3]))
        return y[:, :C]

class ASPP(nn.Module):
    def __init__(s, i, o, rates=(6, 12, 18)):
        super().__init__()
        s.b = nn.ModuleList([nn.Sequential(nn.Conv2d(i, o, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())] +
                            [nn.Sequential(nn.Conv2d(i, o, 3, padding=r, dilation=r, bias=False), nn.BatchNorm2d(o), nn.ReLU()) for r in rates])
        s.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(i, o, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())
        s.proj = nn.Sequential(nn.Conv2d(5 * o, o, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(), nn.Dropout(0.5))
    def forward(s, x):
        o = [b(x) for b in s.b] + [up(s.pool(x), x.shape[2], x.shape[3])]
        return s.proj(torch.cat(o, 1))

class DeepLabV3(nn.Module):
    def __init__(s):
        super().__init__(); s.bb = ResNet18(16); w = 128
        s.head = nn.Sequential(ASPP(8 * W, w), nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.Conv2d(w, C, 1))
    def forward(s, x): return up(s.head(s.bb(x)[3]), x.shape[2], x.shape[3])

def bench(name, model):
    print(f"{name}-params {sum(p.numel() for p in model.parameters())}")
    torch.manual_seed(0)
    x = torch.rand(16, 3, 64, 64); y = torch.randint(0, C, (16, 64, 64))
    opt = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=1e-4)
    model.train()
    def step():
        opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()
    for _ in range(3): step()
    t = time.perf_counter(); n = 10
    for _ in range(n): step()
    print(f"{name}-train {16 * n / (time.perf_counter() - t):.2f}")
    model.eval(); xi = torch.rand(32, 3, 64, 64)
    with torch.no_grad():
        for _ in range(2): model(xi)
        t = time.perf_counter()
        for _ in range(n): model(xi)
    print(f"{name}-infer {32 * n / (time.perf_counter() - t):.2f}")

bench("gcn", GcnNet(15))
bench("deeplabv3", DeepLabV3())
