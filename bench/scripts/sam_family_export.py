#!/usr/bin/env python3
"""Issue 27's encoders for bench/scripts/onnx_export.py, built from the official code with seeded random weights, each
also saved as the official checkpoint file so that Tessera loads the very same weights (both sides compute one function):
  sam2t      SAM 2.1 Hiera-T image encoder (facebookresearch/sam2 2b90b9f: Hiera trunk + FPN neck, scalp 1) as
             SAM2ImagePredictor.set_image uses it: forward_image, the stride-16 level plus no_mem_embed (1x256x64x64) and
             the stride-4/8 levels through the decoder's conv_s0/conv_s1 (1x32x256x256, 1x64x128x128); weights of
             bench/scripts/sam2_random_hiera_t.py (seed 0) with the trunk's position embeddings drawn N(0, 0.02) (seed 1)
             -> OUT/sam2t.pt ({"model": state_dict}, as sam2.1_hiera_tiny.pt)
  mobilesam  MobileSAM's TinyViT image encoder (ChaoningZhang/MobileSAM 34bbbfd, build_sam_vit_t), 1x3x1024x1024 ->
             1x256x64x64; seed 0, attention biases drawn 0.3*N(0, 1) (seed 1) -> OUT/mobilesam.pt (state_dict, as mobile_sam.pt)
Sources: SAM2_SRC (default OUT/sam2src) holds the official sam2/ package (`git archive HEAD sam2`), MOBILESAM_SRC (default
OUT/MobileSAM) the mobile_sam/ package; both imported unchanged. Shims: hydra/iopath/tqdm stand-ins of
tests/fixtures/sam2/make_fixtures.py for SAM 2; timm's DropPath/to_2tuple/trunc_normal_/register_model stand-ins of
tests/fixtures/mobilesam/make_fixtures.py for MobileSAM (torchvision is real in the PyTorch 2.6 chroot; its stand-ins are
used only where torchvision is missing)."""
import importlib.util, os, sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Sam2ImageFeatures(torch.nn.Module):
    """SAM2Base.forward_image + SAM2ImagePredictor.set_image's use of it (directly_add_no_mem_embed)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        fpn = self.model.forward_image(x)["backbone_fpn"]
        return fpn[2] + self.model.no_mem_embed.view(1, -1, 1, 1), fpn[0], fpn[1]


def sam2t(cache):
    hiera = _load("sam2_random_hiera_t", os.path.join(HERE, "sam2_random_hiera_t.py"))
    hiera.install(os.environ.get("SAM2_SRC", os.path.join(cache, "sam2src")))
    model = hiera.build()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # zeros at construction: random, so that the comparison sees them
        for t in (model.image_encoder.trunk.pos_embed, model.image_encoder.trunk.pos_embed_window):
            t.copy_(0.02 * torch.randn(t.shape, generator=gen))
    ckpt = os.path.join(cache, "sam2t.pt")
    if not os.path.exists(ckpt):
        torch.save({"model": model.state_dict()}, ckpt + ".tmp")
        os.replace(ckpt + ".tmp", ckpt)
    torch.manual_seed(0)
    return Sam2ImageFeatures(model).eval(), [torch.randn(1, 3, 1024, 1024)], ["image"], ["image_embed", "high_res_s0", "high_res_s1"]


def mobilesam(cache):
    fixtures = _load("mobilesam_make_fixtures", os.path.join(HERE, "..", "..", "tests", "fixtures", "mobilesam", "make_fixtures.py"))
    need_tv = importlib.util.find_spec("torchvision") is None
    fixtures.install_shims({k: v for k, v in fixtures.SHIMS.items() if k.startswith("timm") or (need_tv and k.startswith("torchvision"))})
    sys.path.insert(0, os.path.abspath(os.environ.get("MOBILESAM_SRC", os.path.join(cache, "MobileSAM"))))
    from mobile_sam import build_sam_vit_t
    torch.manual_seed(0)
    sam = build_sam_vit_t()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in sam.named_parameters():
            if name.endswith("attention_biases"):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    sam.train(); sam.eval()  # eval() caches each attention's `ab` from the biases, as after loading a checkpoint
    ckpt = os.path.join(cache, "mobilesam.pt")
    if not os.path.exists(ckpt):
        torch.save(sam.state_dict(), ckpt + ".tmp")
        os.replace(ckpt + ".tmp", ckpt)
    torch.manual_seed(0)
    return sam.image_encoder.eval(), [torch.randn(1, 3, 1024, 1024)], ["image"], ["embedding"]
