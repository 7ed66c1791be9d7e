#!/usr/bin/env python3
"""PyTorch baseline for `Tessera.Bench sam`: the SAM ViT-B architecture written out here (not the official
package, which Debian does not ship), random weights, float32 on the CPU at a given thread count.
Prints parameter counts, image-encoder latency on a 1024x1024 input and prompt-encoder + mask-decoder
latency per single-point prompt, as `key value` lines."""
import math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)
D, DEPTH, HEADS, GLOBAL, WIN, PATCH, L, C = 768, 12, 12, (2, 5, 8, 11), 14, 16, 1024, 256


def rel_table(q, k, table):
    n = 2 * max(q, k) - 1
    if table.shape[0] != n:
        table = F.interpolate(table.t()[None], size=n, mode="linear")[0].t()
    qc = torch.arange(q)[:, None] * max(k / q, 1.0)
    kc = torch.arange(k)[None, :] * max(q / k, 1.0)
    return table[(qc - kc + (k - 1) * max(q / k, 1.0)).long()]


class Attn(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.h, hd = HEADS, D // HEADS
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.rh, self.rw = nn.Parameter(torch.zeros(2 * size - 1, hd)), nn.Parameter(torch.zeros(2 * size - 1, hd))

    def forward(self, x):
        b, h, w, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, h * w, 3, self.h, -1).permute(2, 0, 3, 1, 4).reshape(3, b * self.h, h * w, -1).unbind(0)
        a = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
        rq = q.reshape(b * self.h, h, w, -1)
        a = (a.view(-1, h, w, h, w) + torch.einsum("bhwc,hkc->bhwk", rq, rel_table(h, h, self.rh))[..., None]
             + torch.einsum("bhwc,wkc->bhwk", rq, rel_table(w, w, self.rw))[:, :, :, None, :]).view(-1, h * w, h * w)
        y = (a.softmax(-1) @ v).view(b, self.h, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, window):
        super().__init__()
        self.win = window
        self.n1, self.n2 = nn.LayerNorm(D, eps=1e-6), nn.LayerNorm(D, eps=1e-6)
        self.attn = Attn(window if window else L // PATCH)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def forward(self, x):
        s = x
        x = self.n1(x)
        if self.win:
            b, h, w, c = x.shape
            ph, pw = (-h) % self.win, (-w) % self.win
            x = F.pad(x, (0, 0, 0, pw, 0, ph))
            hp, wp = h + ph, w + pw
            x = x.view(b, hp // self.win, self.win, wp // self.win, self.win, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, self.win, self.win, c)
            x = self.attn(x)
            x = x.view(b, hp // self.win, wp // self.win, self.win, self.win, c).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, c)[:, :h, :w]
        else:
            x = self.attn(x)
        x = s + x
        return x + self.mlp(self.n2(x))


class LN2d(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.w, self.b = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return self.w[:, None, None] * (x - u) / torch.sqrt(s + 1e-6) + self.b[:, None, None]


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, D, PATCH, PATCH)
        self.pos = nn.Parameter(torch.zeros(1, L // PATCH, L // PATCH, D))
        self.blocks = nn.ModuleList(Block(0 if i in GLOBAL else WIN) for i in range(DEPTH))
        self.neck = nn.Sequential(nn.Conv2d(D, C, 1, bias=False), LN2d(C), nn.Conv2d(C, C, 3, padding=1, bias=False), LN2d(C))

    def forward(self, x):
        x = self.patch(x).permute(0, 2, 3, 1) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.neck(x.permute(0, 3, 1, 2))


class DAttn(nn.Module):
    def __init__(self, rate=1):
        super().__init__()
        i = C // rate
        self.q, self.k, self.v, self.o = nn.Linear(C, i), nn.Linear(C, i), nn.Linear(C, i), nn.Linear(i, C)

    def forward(self, q, k, v):
        sep = lambda t: t.reshape(t.shape[0], t.shape[1], 8, -1).transpose(1, 2)
        q, k, v = sep(self.q(q)), sep(self.k(k)), sep(self.v(v))
        a = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
        o = (a @ v).transpose(1, 2)
        return self.o(o.reshape(o.shape[0], o.shape[1], -1))


class TwoWay(nn.Module):
    def __init__(self, first):
        super().__init__()
        self.first = first
        self.sa, self.t2i, self.i2t = DAttn(), DAttn(2), DAttn(2)
        self.n = nn.ModuleList(nn.LayerNorm(C) for _ in range(4))
        self.mlp = nn.Sequential(nn.Linear(C, 2048), nn.ReLU(), nn.Linear(2048, C))

    def forward(self, q, k, qpe, kpe):
        if self.first:
            q = self.sa(q, q, q)
        else:
            t = q + qpe
            q = q + self.sa(t, t, q)
        q = self.n[0](q)
        q = self.n[1](q + self.t2i(q + qpe, k + kpe, k))
        q = self.n[2](q + self.mlp(q))
        k = self.n[3](k + self.i2t(k + kpe, q + qpe, q))
        return q, k


def mlp(i, h, o, n):
    layers = []
    dims = [i] + [h] * (n - 1) + [o]
    for j in range(n):
        layers.append(nn.Linear(dims[j], dims[j + 1]))
        if j < n - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class PromptDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("gauss", torch.randn(2, C // 2))
        self.point = nn.ParameterList(nn.Parameter(torch.randn(1, C)) for _ in range(4))
        self.not_point, self.no_mask = nn.Parameter(torch.randn(1, C)), nn.Parameter(torch.randn(1, C))
        self.down = nn.Sequential(nn.Conv2d(1, 4, 2, 2), LN2d(4), nn.GELU(), nn.Conv2d(4, 16, 2, 2), LN2d(16), nn.GELU(), nn.Conv2d(16, C, 1))
        self.layers = nn.ModuleList(TwoWay(i == 0) for i in range(2))
        self.final, self.nf = DAttn(2), nn.LayerNorm(C)
        self.iou_tok, self.mask_tok = nn.Parameter(torch.randn(1, C)), nn.Parameter(torch.randn(4, C))
        self.up = nn.Sequential(nn.ConvTranspose2d(C, C // 4, 2, 2), LN2d(C // 4), nn.GELU(), nn.ConvTranspose2d(C // 4, C // 8, 2, 2), nn.GELU())
        self.hyper = nn.ModuleList(mlp(C, C, C // 8, 3) for _ in range(4))
        self.iou = mlp(C, 256, 4, 3)

    def pe(self, xy):
        c = 2 * math.pi * ((2 * xy - 1) @ self.gauss)
        return torch.cat([c.sin(), c.cos()], -1)

    def forward(self, emb, points, labels):
        n = L // PATCH
        g = (torch.arange(n, dtype=torch.float32) + 0.5) / n
        dense_pe = self.pe(torch.stack([g[None, :].expand(n, n), g[:, None].expand(n, n)], -1)).permute(2, 0, 1)[None]
        pts = torch.cat([points + 0.5, torch.zeros(1, 1, 2)], 1) / L
        lab = torch.cat([labels, -torch.ones(1, 1)], 1)[..., None]
        sp = self.pe(pts)
        sp = torch.where(lab == -1, self.not_point, sp) + (lab == 0) * self.point[0] + (lab == 1) * self.point[1]
        tokens = torch.cat([self.iou_tok, self.mask_tok], 0)[None].expand(1, -1, -1)
        tokens = torch.cat([tokens, sp], 1)
        src = emb + self.no_mask.view(1, -1, 1, 1)
        b, c, h, w = src.shape
        k, kpe, q = src.flatten(2).transpose(1, 2), dense_pe.flatten(2).transpose(1, 2), tokens
        for layer in self.layers:
            q, k = layer(q, k, tokens, kpe)
        q = self.nf(q + self.final(q + tokens, k + kpe, k))
        up = self.up(k.transpose(1, 2).reshape(b, c, h, w))
        hyper = torch.stack([self.hyper[i](q[:, 1 + i]) for i in range(4)], 1)
        masks = (hyper @ up.flatten(2)).view(b, 4, up.shape[2], up.shape[3])
        return masks[:, 1:], self.iou(q[:, 0])[:, 1:]


enc, dec = Encoder().eval(), PromptDecoder().eval()
print("encoder_params", sum(p.numel() for p in enc.parameters()))
print("decoder_params", sum(p.numel() for p in dec.parameters()))
x = torch.randn(1, 3, L, L)
with torch.no_grad():
    if reps > 0:  # reps 0: the decoder alone, on a random embedding
        enc(x)  # warm-up
        t, c = time.perf_counter(), time.process_time()
        for _ in range(reps):
            emb = enc(x)
        print("encoder_s", (time.perf_counter() - t) / reps)
        print("encoder_cpu_s", (time.process_time() - c) / reps)  # CPU time: steadier on a shared machine
    else:
        emb = torch.randn(1, C, L // PATCH, L // PATCH)
    pts, lab = torch.tensor([[[500.0, 375.0]]]), torch.ones(1, 1)
    for _ in range(3):
        dec(emb, pts, lab)
    t, c = time.perf_counter(), time.process_time()
    for _ in range(20):
        dec(emb, pts, lab)
    print("decoder_ms", (time.perf_counter() - t) / 20 * 1000)
    print("decoder_cpu_ms", (time.process_time() - c) / 20 * 1000)  # CPU time: steadier on a shared machine
