#!/usr/bin/env python3
"""ONNX graphs for `Tessera.Bench onnx` (issue 28's baselines), exported from the official code with random weights:
  sam      SAM ViT-B image encoder (segment-anything's modeling/image_encoder.py, build_sam's ViT-B settings), 1x3x1024x1024
  samdec   SAM's prompt encoder + mask decoder (modeling/prompt_encoder.py, mask_decoder.py, transformer.py; build_sam's
           settings) on a 1x256x64x64 image embedding and one foreground point, three masks (multimask output)
  deeplab  torchvision's deeplabv3_resnet50(num_classes=21) inference (0.14 or 0.21: the same model), 1x3x512x512 (the 'out' logits)
  unet     the reference DDPM U-Net of bench/scripts/unet_speed_torch.py, batch 64 of 28x28x1 and its time steps
  sam2t, mobilesam   issue 27's SAM 2.1 Hiera-T and MobileSAM image encoders, 1x3x1024x1024, with their weights also saved as
           official checkpoints OUTDIR/sam2t.pt and OUTDIR/mobilesam.pt (bench/scripts/sam_family_export.py)
Usage: onnx_export.py OUTDIR [sam] [samdec] [deeplab] [unet] [sam2t] [mobilesam]   (SAM_SRC=DIR: a checkout of facebookresearch/segment-anything,
commit dca509f or any with the same modeling code; default OUTDIR/segment-anything)
Each model also gets its FLOPs counted by PyTorch's dispatcher (aten mm/addmm/bmm/baddbmm/convolution at 2 FLOPs per
multiply-add; PyTorch 2's fused CPU attention, which Hiera calls through scaled_dot_product_attention, as its two
products), printed as `flops_NAME value` and kept in OUTDIR/NAME.flops; the graph is written to OUTDIR/NAME.onnx (opset 17) unless it
exists. torch.onnx needs the onnx package: in the PyTorch 2.6 chroot `chroot DIR apt-get install -y python3-onnx`.
Random weights: seed 0, so the same inputs give the same outputs on every run (the ONNX graph is ~360 MB for SAM;
keep OUTDIR out of git: bench-cache/ is ignored)."""
import math, os, sys
import torch
from torch.utils._python_dispatch import TorchDispatchMode


class Flops(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        r = func(*args, **(kwargs or {}))
        n = func.overloadpacket.__name__
        if n == "mm":
            self.total += 2 * args[0].shape[0] * args[0].shape[1] * args[1].shape[1]
        elif n == "addmm":
            self.total += 2 * args[1].shape[0] * args[1].shape[1] * args[2].shape[1]
        elif n == "bmm":
            self.total += 2 * args[0].shape[0] * args[0].shape[1] * args[0].shape[2] * args[1].shape[2]
        elif n == "baddbmm":
            self.total += 2 * args[1].shape[0] * args[1].shape[1] * args[1].shape[2] * args[2].shape[2]
        elif n.startswith("_scaled_dot_product"):  # q [.., L, E] k [.., S, E] v [.., S, Ev]: q·kᵀ and the weights·v
            q, k, v = args[0], args[1], args[2]
            self.total += 2 * math.prod(q.shape[:-1]) * k.shape[-2] * (q.shape[-1] + v.shape[-1])
        elif n == "convolution":
            w = args[1]
            self.total += 2 * r.numel() * w.shape[1] * math.prod(w.shape[2:])
        return r


def count(model, *inputs):
    with torch.no_grad(), Flops() as f:
        model(*inputs)
    return f.total


def export(out, name, model, inputs, input_names, output_names):
    model.eval()
    flops_path = os.path.join(out, name + ".flops")  # counted once (the SAM encoder's count is a whole forward pass)
    if not os.path.exists(flops_path):
        with open(flops_path + ".tmp", "w") as f:
            f.write(str(count(model, *inputs)))
        os.replace(flops_path + ".tmp", flops_path)
    print(f"flops_{name}", open(flops_path).read().strip(), flush=True)
    if os.environ.get("FLOPS_ONLY") == "1":
        return
    path = os.path.join(out, name + ".onnx")
    if not os.path.exists(path):
        with torch.no_grad():
            torch.onnx.export(model, tuple(inputs), path + ".tmp", opset_version=17, input_names=input_names, output_names=output_names)
        os.replace(path + ".tmp", path)
    print(f"onnx_{name}", os.path.getsize(path), flush=True)


def build(name, cache):
    """The model (evaluation mode, random weights from seed 0), its inputs, and the graph's input and output names."""
    torch.manual_seed(0)
    if name == "sam":
        # The modeling package alone (the package's __init__ imports torchvision for its predictor's transforms).
        sys.path.insert(0, os.path.join(os.environ.get("SAM_SRC", os.path.join(cache, "segment-anything")), "segment_anything"))
        from functools import partial
        from modeling import ImageEncoderViT
        enc = ImageEncoderViT(depth=12, embed_dim=768, img_size=1024, mlp_ratio=4, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
                              num_heads=12, patch_size=16, qkv_bias=True, use_rel_pos=True, global_attn_indexes=[2, 5, 8, 11],
                              window_size=14, out_chans=256)
        with torch.no_grad():  # random position tables (they are zeros at construction), as in the benches
            enc.pos_embed.normal_(0, 0.02)
            for m in enc.modules():
                if hasattr(m, "rel_pos_h"):
                    m.rel_pos_h.normal_(0, 0.02); m.rel_pos_w.normal_(0, 0.02)
        return enc.eval(), [torch.randn(1, 3, 1024, 1024)], ["image"], ["embedding"]
    if name == "samdec":
        sys.path.insert(0, os.path.join(os.environ.get("SAM_SRC", os.path.join(cache, "segment-anything")), "segment_anything"))
        from modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

        class Decoder(torch.nn.Module):
            # build_sam's prompt encoder and mask decoder; labels as floats (1 foreground, 0 background), as the
            # official ONNX export takes them.
            def __init__(self):
                super().__init__()
                self.pe = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024), mask_in_chans=16)
                self.md = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
                                      transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256)

            def forward(self, embedding, coords, labels):
                # PromptEncoder.forward for points without a box, its label lookups written as products with label
                # masks (the indexed assignments of _embed_points trace into ONNX Where nodes that ONNX Runtime rejects):
                # the padding point (label -1) appended, coordinates shifted to pixel centres and normalised.
                pe = self.pe
                coords = torch.cat([coords + 0.5, torch.zeros(1, 1, 2)], 1)
                lab = torch.cat([labels, -torch.ones(1, 1)], 1).unsqueeze(-1)
                sparse = pe.pe_layer._pe_encoding(coords / 1024.0) * (lab != -1)
                sparse = sparse + pe.not_a_point_embed.weight * (lab == -1)
                sparse = sparse + pe.point_embeddings[0].weight * (lab == 0) + pe.point_embeddings[1].weight * (lab == 1)
                dense = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, 64, 64)
                masks, iou = self.md(image_embeddings=embedding, image_pe=pe.get_dense_pe(), sparse_prompt_embeddings=sparse,
                                     dense_prompt_embeddings=dense, multimask_output=True)
                return masks, iou

        return Decoder().eval(), [torch.randn(1, 256, 64, 64), torch.tensor([[[500.0, 375.0]]]), torch.ones(1, 1)], ["embedding", "coords", "labels"], ["masks", "iou"]
    if name == "deeplab":
        import torchvision

        class Out(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = torchvision.models.segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=False)

            def forward(self, x):
                return self.m(x)["out"]

        return Out().eval(), [torch.randn(1, 3, 512, 512)], ["image"], ["logits"]
    if name == "unet":
        src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "unet_speed_torch.py")).read()
        src = src[src.index("def temb"):src.index("net = UNet()")]  # the architecture only, not the training run
        scope = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional, "math": math}
        exec(src, scope)
        return scope["UNet"]().eval(), [torch.randn(64, 1, 28, 28), torch.randint(0, 1000, (64,))], ["x", "t"], ["eps"]
    if name in ("sam2t", "mobilesam"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        sys.dont_write_bytecode = True  # no __pycache__ in bench/scripts
        import sam_family_export
        return getattr(sam_family_export, name)(cache)
    raise SystemExit(f"unknown model {name}; expected sam, samdec, deeplab, unet, sam2t or mobilesam")


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name in sys.argv[2:] or ["sam", "samdec", "deeplab", "unet"]:
        model, inputs, input_names, output_names = build(name, out)
        export(out, name, model, inputs, input_names, output_names)
