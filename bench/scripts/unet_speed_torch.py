#!/usr/bin/env python3
"""PyTorch baseline for `Tessera.Bench unet`: the reference DDPM U-Net of Tessera's diffusion issue, written out
here layer for layer like Tessera's Networks.UNet (base 32, multipliers 1-2-4, two residual blocks per level,
attention at 7x7, GroupNorm(8), SiLU, sinusoidal time embedding 32 -> 128; output convolution with 16 channels
sliced to 1, as Tessera pads it), epsilon-prediction DDPM training with Adam 2e-4 on batches of 64 28x28x1.
Prints `key value` lines: parameter count, steps/s, peak resident memory (VmHWM)."""
import math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
torch.set_num_threads(threads)
torch.manual_seed(0)
torch.ones(4).add_(1)
rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS:")][0].split()[1]
print("baseline_rss_mb", int(rss) / 1024)


def temb(t, dim):
    half = dim // 2
    f = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    a = t.float()[:, None] * f[None]
    return torch.cat([a.cos(), a.sin()], 1)


class Res(nn.Module):
    def __init__(self, i, o, e):
        super().__init__()
        self.n1, self.c1, self.e = nn.GroupNorm(8, i), nn.Conv2d(i, o, 3, padding=1), nn.Linear(e, o)
        self.n2, self.c2 = nn.GroupNorm(8, o), nn.Conv2d(o, o, 3, padding=1)
        self.skip = nn.Conv2d(i, o, 1) if i != o else None

    def forward(self, x, emb):
        h = self.c1(F.silu(self.n1(x))) + self.e(F.silu(emb))[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class Attn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n, self.qkv, self.proj = nn.GroupNorm(8, c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.n(x)).reshape(b, 3, c, h * w).unbind(1)
        a = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(c), -1)
        return x + self.proj((a @ v.transpose(1, 2)).transpose(1, 2).reshape(b, c, h, w))


class UNet(nn.Module):
    def __init__(self, ch=32, mult=(1, 2, 4), blocks=2, attn=(7,), emb=128, tch=32):
        super().__init__()
        self.tch = tch
        self.t = nn.Sequential(nn.Linear(tch, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inp = nn.Conv2d(1, ch, 3, padding=1)
        self.down, skips, cur, res = nn.ModuleList(), [ch], ch, 28
        for lv, m in enumerate(mult):
            for _ in range(blocks):
                self.down.append(Res(cur, ch * m, emb)); cur = ch * m
                if res in attn: self.down.append(Attn(cur))
                skips.append(cur)
            if lv < len(mult) - 1:
                self.down.append(nn.Conv2d(cur, cur, 3, stride=2, padding=1)); res = (res + 1) // 2; skips.append(cur)
        self.mid = nn.ModuleList([Res(cur, cur, emb), Attn(cur), Res(cur, cur, emb)])
        self.up = nn.ModuleList()
        for lv in reversed(range(len(mult))):
            for _ in range(blocks + 1):
                self.up.append(Res(cur + skips.pop(), ch * mult[lv], emb)); cur = ch * mult[lv]
                if res in attn: self.up.append(Attn(cur))
            if lv > 0:
                self.up.append(nn.Conv2d(cur, cur, 3, padding=1)); res *= 2
        self.norm, self.out = nn.GroupNorm(8, cur), nn.Conv2d(cur, 16, 3, padding=1)

    def run(self, m, h, e):
        if isinstance(m, Res): return m(h, e)
        if isinstance(m, Attn): return m(h)
        return m(h)

    def forward(self, x, t):
        e = self.t(temb(t, self.tch))
        h = self.inp(x); hs = [h]
        for m in self.down:
            h = self.run(m, h, e)
            if isinstance(m, Attn): hs[-1] = h
            else: hs.append(h)
        for m in self.mid: h = self.run(m, h, e)
        for m in self.up:
            if isinstance(m, Res): h = torch.cat([h, hs.pop()], 1)
            if isinstance(m, nn.Conv2d): h = m(F.interpolate(h, scale_factor=2.0, mode="nearest"))
            else: h = self.run(m, h, e)
        return self.out(F.silu(self.norm(h)))[:, :1]


net = UNet()
print("params", sum(p.numel() for p in net.parameters()))
opt = torch.optim.Adam(net.parameters(), 2e-4)
abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000), 0)
x0 = torch.rand(64, 1, 28, 28) * 2 - 1


def step():
    t = torch.randint(0, 1000, (64,))
    eps = torch.randn_like(x0)
    a = abar[t][:, None, None, None]
    loss = F.mse_loss(net(a.sqrt() * x0 + (1 - a).sqrt() * eps, t), eps)
    opt.zero_grad(); loss.backward(); opt.step()


for _ in range(3): step()
t0 = time.perf_counter()
for _ in range(steps): step()
print("steps_per_s", steps / (time.perf_counter() - t0))
# VmHWM, not ru_maxrss: the latter carries the parent's peak across fork + exec.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print("peak_rss_mb", int(hwm) / 1024)
