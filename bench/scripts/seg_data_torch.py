#!/usr/bin/env python3
"""PyTorch baseline for Tessera.Bench segdata: a torch DataLoader (num_workers = threads) that decodes the VOC
layout Tessera.Bench wrote (JPEG images with PIL, palette PNG labels as indices with PIL) and applies
mmsegmentation's training transforms with PIL and numpy: RandomResize (2048x512, ratio 0.5-2.0, keep ratio;
image bilinear, label nearest), RandomCrop 512x512 with cat_max_ratio 0.75 (10 tries), RandomFlip 0.5,
PhotoMetricDistortion (brightness, contrast, saturation, hue through HSV in numpy), ImageNet Normalize, Pad to
512x512 (image 0, label 255), collated into float32 [N,3,512,512] and int64 [N,512,512] batches.
Prints: images_per_second N."""
import os, sys, time
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, DataLoader

root, threads, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
CROP = 512
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


def rgb_to_hsv(rgb):  # float arrays in [0, 255]; H in [0, 180) as OpenCV's 8-bit convention
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(-1); mn = rgb.min(-1); d = v - mn
    s = np.where(v > 0, d / np.maximum(v, 1e-6) * 255, 0)
    dd = np.maximum(d, 1e-6)
    h = np.where(v == r, (g - b) / dd, np.where(v == g, 2 + (b - r) / dd, 4 + (r - g) / dd))
    h = np.where(d > 0, (h * 30) % 180, 0)
    return np.stack([h, s, v], -1)


def hsv_to_rgb(hsv):
    h, s, v = hsv[..., 0] / 30.0, hsv[..., 1] / 255.0, hsv[..., 2]
    i = np.floor(h).astype(np.int32) % 6; f = h - np.floor(h)
    p = v * (1 - s); q = v * (1 - s * f); t = v * (1 - s * (1 - f))
    r = np.choose(i, [v, q, p, p, t, v]); g = np.choose(i, [t, v, v, q, p, p]); b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], -1)


class Voc(Dataset):
    def __init__(self, root):
        voc = os.path.join(root, "VOCdevkit", "VOC2012")
        ids = [l.strip() for l in open(os.path.join(voc, "ImageSets", "Segmentation", "train.txt")) if l.strip()]
        self.items = [(os.path.join(voc, "JPEGImages", i + ".jpg"), os.path.join(voc, "SegmentationClass", i + ".png")) for i in ids]

    def __len__(self):
        return 1 << 30

    def __getitem__(self, k):
        rng = np.random.default_rng(k)
        ip, lp = self.items[k % len(self.items)]
        img = Image.open(ip).convert("RGB"); lab = Image.open(lp)
        w, h = img.size
        ratio = rng.random() * 1.5 + 0.5
        tw, th = int(2048 * ratio), int(512 * ratio)
        f = min(max(tw, th) / max(w, h), min(tw, th) / min(w, h))
        nw, nh = int(w * f + 0.5), int(h * f + 0.5)
        img = np.asarray(img.resize((nw, nh), Image.BILINEAR)); lab = np.asarray(lab.resize((nw, nh), Image.NEAREST))

        def window():
            y = rng.integers(0, max(nh - CROP, 0) + 1); x = rng.integers(0, max(nw - CROP, 0) + 1)
            return y, x
        y, x = window()
        for _ in range(10):
            labels, cnt = np.unique(lab[y:y + CROP, x:x + CROP], return_counts=True)
            cnt = cnt[labels != 255]
            if len(cnt) > 1 and cnt.max() / cnt.sum() < 0.75:
                break
            y, x = window()
        img = img[y:y + CROP, x:x + CROP]; lab = lab[y:y + CROP, x:x + CROP]
        if rng.random() < 0.5:
            img = img[:, ::-1]; lab = lab[:, ::-1]
        img = img.astype(np.float32)
        if rng.integers(2):
            img = np.clip(img + rng.uniform(-32, 32), 0, 255).astype(np.uint8).astype(np.float32)
        mode = rng.integers(2)
        def contrast(img):
            if rng.integers(2):
                img = np.clip(img * rng.uniform(0.5, 1.5), 0, 255).astype(np.uint8).astype(np.float32)
            return img
        if mode == 1:
            img = contrast(img)
        if rng.integers(2):
            hsv = rgb_to_hsv(img); hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.5, 1.5), 0, 255)
            img = np.clip(np.round(hsv_to_rgb(hsv)), 0, 255)
        if rng.integers(2):
            hsv = rgb_to_hsv(img); hsv[..., 0] = (hsv[..., 0] + rng.integers(-18, 18)) % 180
            img = np.clip(np.round(hsv_to_rgb(hsv)), 0, 255)
        if mode == 0:
            img = contrast(img)
        img = (img - MEAN) / STD
        ch, cw = img.shape[:2]
        out = np.zeros((3, CROP, CROP), np.float32); out[:, :ch, :cw] = img.transpose(2, 0, 1)
        lout = np.full((CROP, CROP), 255, np.int64); lout[:ch, :cw] = lab
        return torch.from_numpy(out), torch.from_numpy(lout)


def init(_):
    torch.set_num_threads(1)


loader = DataLoader(Voc(root), batch_size=batch, num_workers=threads, worker_init_fn=init, prefetch_factor=2, persistent_workers=True)
it = iter(loader)
for _ in range(2):
    next(it)
t = time.perf_counter()
for _ in range(steps):
    x, y = next(it)
dt = time.perf_counter() - t
print(f"images_per_second {steps * batch / dt:.3f}")
