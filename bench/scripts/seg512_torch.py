#!/usr/bin/env python3
"""PyTorch baseline for Tessera.Bench seg512: DeepLabV3-ResNet-50 (torchvision's deeplabv3_resnet50, output stride 8,
ASPP rates 12/24/36, auxiliary FCN head on layer3, 21 classes, no pretrained weights) trained on random 512x512 batches
with SGD (momentum 0.9, weight decay 5e-4), loss = CE(main) + 0.4 CE(aux), ignore index 255.
Usage: seg512_torch.py THREADS BATCH STEPS. Prints `name value` lines: params, the median step's images/s (wall) and
CPU seconds per image, and a `pytorch-cpu:` line naming the instruction sets this PyTorch uses."""
import os, sys, time, statistics
import torch
import torch.nn.functional as F
from torchvision.models.segmentation import deeplabv3_resnet50
from torch_host import describe

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 2
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
torch.set_num_threads(threads)
print(describe())

torch.manual_seed(0)
model = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
print("params", sum(p.numel() for p in model.parameters()))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
x = torch.randn(batch, 3, 512, 512)
y = torch.randint(0, 21, (batch, 512, 512))
model.train()


def step():
    out = model(x)
    loss = F.cross_entropy(out["out"], y, ignore_index=255) + 0.4 * F.cross_entropy(out["aux"], y, ignore_index=255)
    opt.zero_grad(); loss.backward(); opt.step()
    return loss.item()


step()  # warm-up
walls, cpus = [], []
for _ in range(steps):
    w, c = time.perf_counter(), time.process_time()
    loss = step()
    walls.append(time.perf_counter() - w); cpus.append(time.process_time() - c)
assert loss == loss, "loss is NaN"
print("images_per_s", batch / statistics.median(walls))
print("cpu_s_per_image", statistics.median(cpus) / batch)
