#!/usr/bin/env python3
"""PyTorch baseline for `Tessera.Bench amg`: the official automatic mask generator of Segment Anything
(segment-anything dca509fe: SamAutomaticMaskGenerator, SamPredictor, utils/amg.py, utils/transforms.py) written out
here step for step, since Debian ships no `segment_anything` package, on a SAM built at the tiny fixture's size with
the official state-dict key names (bench/scripts/sam_speed_torch.py hard-codes ViT-B under other names).

  amg_torch.py check                      the official generator's fixture (tests/fixtures/sam/amg): exit 1 on a mismatch
  amg_torch.py bench DIR THREADS PPS PPB PRED_IOU STABILITY [REPS]
                                          every image of DIR through the generator, REPS times; prints `key value` lines
Small-region removal (min_mask_region_area) needs 8-connected components: opencv's is replaced by a union-find here
(labels in raster order, as cv2.connectedComponentsWithStats numbers them)."""
import json, math, os, sys, time
from copy import deepcopy
from itertools import product
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision.ops.boxes import batched_nms
from torchvision.transforms.functional import resize, to_pil_image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIX = os.path.join(ROOT, "tests", "fixtures", "sam")


# ---------------------------------------------------------------- the model (official module and key names)
class LayerNorm2d(nn.Module):
    def __init__(self, c, eps=1e-6):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c)), eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * ((x - u) / torch.sqrt(s + self.eps)) + self.bias[:, None, None]


class MLPBlock(nn.Module):
    def __init__(self, d, h, act):
        super().__init__()
        self.lin1, self.lin2, self.act = nn.Linear(d, h), nn.Linear(h, d), act()

    def forward(self, x):
        return self.lin2(self.act(self.lin1(x)))


def get_rel_pos(q_size, k_size, rel_pos):
    n = int(2 * max(q_size, k_size) - 1)
    if rel_pos.shape[0] != n:
        rel_pos = F.interpolate(rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1), size=n, mode="linear").reshape(-1, n).permute(1, 0)
    qc = torch.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
    kc = torch.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
    return rel_pos[((qc - kc) + (k_size - 1) * max(q_size / k_size, 1.0)).long()]


class EncAttention(nn.Module):
    def __init__(self, dim, heads, size):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * size - 1, dim // heads))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * size - 1, dim // heads))

    def forward(self, x):
        B, H, W, _ = x.shape
        qkv = self.qkv(x).reshape(B, H * W, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, B * self.heads, H * W, -1).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        # decomposed relative positions (Li et al. 2022, MViTv2 eq. 4), as add_decomposed_rel_pos
        Rh, Rw = get_rel_pos(H, H, self.rel_pos_h), get_rel_pos(W, W, self.rel_pos_w)
        r_q = q.reshape(q.shape[0], H, W, -1)
        rel_h, rel_w = torch.einsum("bhwc,hkc->bhwk", r_q, Rh), torch.einsum("bhwc,wkc->bhwk", r_q, Rw)
        attn = (attn.view(-1, H, W, H, W) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]).view(-1, H * W, H * W)
        x = (attn.softmax(dim=-1) @ v).view(B, self.heads, H, W, -1).permute(0, 2, 3, 1, 4).reshape(B, H, W, -1)
        return self.proj(x)


class EncBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, window, grid):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = EncAttention(dim, heads, window if window > 0 else grid)
        self.mlp, self.window = MLPBlock(dim, int(dim * mlp_ratio), nn.GELU), window

    def forward(self, x):
        shortcut = x
        x = self.norm1(x)
        if self.window > 0:
            B, H, W, C = x.shape
            ws = self.window
            ph, pw = (ws - H % ws) % ws, (ws - W % ws) % ws
            x = F.pad(x, (0, 0, 0, pw, 0, ph))
            Hp, Wp = H + ph, W + pw
            x = x.view(B, Hp // ws, ws, Wp // ws, ws, C).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, C)
            x = self.attn(x)
            x = x.view(B, Hp // ws, Wp // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5).contiguous().view(B, Hp, Wp, -1)[:, :H, :W, :].contiguous()
        else:
            x = self.attn(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)

    def forward(self, x):
        return self.proj(x).permute(0, 2, 3, 1)


class ImageEncoderViT(nn.Module):
    def __init__(self, img_size, patch, dim, depth, heads, mlp_ratio, out_chans, window, global_idx):
        super().__init__()
        self.img_size, g = img_size, img_size // patch
        self.patch_embed = PatchEmbed(patch, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, g, g, dim))
        self.blocks = nn.ModuleList(EncBlock(dim, heads, mlp_ratio, 0 if i in global_idx else window, g) for i in range(depth))
        self.neck = nn.Sequential(nn.Conv2d(dim, out_chans, 1, bias=False), LayerNorm2d(out_chans),
                                  nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False), LayerNorm2d(out_chans))

    def forward(self, x):
        x = self.patch_embed(x) + self.pos_embed
        for b in self.blocks:
            x = b(x)
        return self.neck(x.permute(0, 3, 1, 2))


class PositionEmbeddingRandom(nn.Module):
    def __init__(self, feats):
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, feats))

    def _pe_encoding(self, coords):
        # random Fourier features (Tancik et al. 2020, eq. 5)
        coords = 2 * math.pi * ((2 * coords - 1) @ self.positional_encoding_gaussian_matrix)
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size):
        h, w = size
        grid = torch.ones((h, w), dtype=torch.float32)
        y, x = (grid.cumsum(dim=0) - 0.5) / h, (grid.cumsum(dim=1) - 0.5) / w
        return self._pe_encoding(torch.stack([x, y], dim=-1)).permute(2, 0, 1)

    def forward_with_coords(self, coords_input, image_size):
        coords = coords_input.clone()
        coords[:, :, 0] = coords[:, :, 0] / image_size[1]
        coords[:, :, 1] = coords[:, :, 1] / image_size[0]
        return self._pe_encoding(coords.to(torch.float))


class PromptEncoder(nn.Module):
    def __init__(self, dim, emb_size, img_size, mask_in_chans):
        super().__init__()
        self.embed_dim, self.image_embedding_size, self.input_image_size = dim, emb_size, img_size
        self.pe_layer = PositionEmbeddingRandom(dim // 2)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, dim)
        self.mask_downscaling = nn.Sequential(nn.Conv2d(1, mask_in_chans // 4, 2, 2), LayerNorm2d(mask_in_chans // 4), nn.GELU(),
                                              nn.Conv2d(mask_in_chans // 4, mask_in_chans, 2, 2), LayerNorm2d(mask_in_chans), nn.GELU(),
                                              nn.Conv2d(mask_in_chans, dim, 1))
        self.no_mask_embed = nn.Embedding(1, dim)

    def get_dense_pe(self):
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def forward(self, points, labels):  # points only, as the generator prompts
        bs = points.shape[0]
        points = torch.cat([points + 0.5, torch.zeros((bs, 1, 2))], dim=1)
        labels = torch.cat([labels, -torch.ones((bs, 1))], dim=1)
        pe = self.pe_layer.forward_with_coords(points, self.input_image_size)
        pe[labels == -1] = 0.0
        pe[labels == -1] += self.not_a_point_embed.weight
        pe[labels == 0] += self.point_embeddings[0].weight
        pe[labels == 1] += self.point_embeddings[1].weight
        sparse = torch.cat([torch.empty((bs, 0, self.embed_dim)), pe], dim=1)
        dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(bs, -1, *self.image_embedding_size)
        return sparse, dense


class Attention(nn.Module):
    def __init__(self, dim, heads, rate=1):
        super().__init__()
        i = dim // rate
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = nn.Linear(dim, i), nn.Linear(dim, i), nn.Linear(dim, i), nn.Linear(i, dim)

    def _sep(self, x):
        b, n, c = x.shape
        return x.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, q, k, v):
        q, k, v = self._sep(self.q_proj(q)), self._sep(self.k_proj(k)), self._sep(self.v_proj(v))
        attn = torch.softmax(q @ k.permute(0, 1, 3, 2) / math.sqrt(q.shape[-1]), dim=-1)
        out = (attn @ v).transpose(1, 2)
        return self.out_proj(out.reshape(out.shape[0], out.shape[1], -1))


class TwoWayAttentionBlock(nn.Module):
    def __init__(self, dim, heads, mlp_dim, skip_first_layer_pe):
        super().__init__()
        self.self_attn = Attention(dim, heads)
        self.cross_attn_token_to_image, self.cross_attn_image_to_token = Attention(dim, heads, 2), Attention(dim, heads, 2)
        self.norm1, self.norm2, self.norm3, self.norm4 = (nn.LayerNorm(dim) for _ in range(4))
        self.mlp, self.skip = MLPBlock(dim, mlp_dim, nn.ReLU), skip_first_layer_pe

    def forward(self, queries, keys, query_pe, key_pe):
        if self.skip:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        queries = self.norm2(queries + self.cross_attn_token_to_image(queries + query_pe, keys + key_pe, keys))
        queries = self.norm3(queries + self.mlp(queries))
        keys = self.norm4(keys + self.cross_attn_image_to_token(keys + key_pe, queries + query_pe, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    def __init__(self, depth, dim, heads, mlp_dim):
        super().__init__()
        self.layers = nn.ModuleList(TwoWayAttentionBlock(dim, heads, mlp_dim, i == 0) for i in range(depth))
        self.final_attn_token_to_image, self.norm_final_attn = Attention(dim, heads, 2), nn.LayerNorm(dim)

    def forward(self, image_embedding, image_pe, point_embedding):
        keys, image_pe = image_embedding.flatten(2).permute(0, 2, 1), image_pe.flatten(2).permute(0, 2, 1)
        queries = point_embedding
        for layer in self.layers:
            queries, keys = layer(queries, keys, point_embedding, image_pe)
        queries = self.norm_final_attn(queries + self.final_attn_token_to_image(queries + point_embedding, keys + image_pe, keys))
        return queries, keys


class MLP(nn.Module):
    def __init__(self, i, h, o, n):
        super().__init__()
        dims = [i] + [h] * (n - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, [h] * (n - 1) + [o]))

    def forward(self, x):
        for j, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if j < len(self.layers) - 1 else layer(x)
        return x


class MaskDecoder(nn.Module):
    def __init__(self, dim, transformer, iou_depth, iou_hidden):
        super().__init__()
        self.transformer, self.num_mask_tokens = transformer, 4
        self.iou_token, self.mask_tokens = nn.Embedding(1, dim), nn.Embedding(4, dim)
        self.output_upscaling = nn.Sequential(nn.ConvTranspose2d(dim, dim // 4, 2, 2), LayerNorm2d(dim // 4), nn.GELU(),
                                              nn.ConvTranspose2d(dim // 4, dim // 8, 2, 2), nn.GELU())
        self.output_hypernetworks_mlps = nn.ModuleList(MLP(dim, dim, dim // 8, 3) for _ in range(4))
        self.iou_prediction_head = MLP(dim, iou_hidden, 4, iou_depth)

    def forward(self, image_embeddings, image_pe, sparse, dense):  # multimask output
        out = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0).unsqueeze(0).expand(sparse.size(0), -1, -1)
        tokens = torch.cat((out, sparse), dim=1)
        src = torch.repeat_interleave(image_embeddings, tokens.shape[0], dim=0) + dense
        pos_src = torch.repeat_interleave(image_pe, tokens.shape[0], dim=0)
        b, c, h, w = src.shape
        hs, src = self.transformer(src, pos_src, tokens)
        iou_out, mask_out = hs[:, 0, :], hs[:, 1:5, :]
        up = self.output_upscaling(src.transpose(1, 2).view(b, c, h, w))
        hyper = torch.stack([self.output_hypernetworks_mlps[i](mask_out[:, i, :]) for i in range(4)], dim=1)
        b, c, h, w = up.shape
        masks = (hyper @ up.view(b, c, h * w)).view(b, -1, h, w)
        return masks[:, 1:], self.iou_prediction_head(iou_out)[:, 1:]


class Sam(nn.Module):
    mask_threshold = 0.0

    def __init__(self):  # the fixture's tiny configuration (tests/fixtures/sam/README.md)
        super().__init__()
        self.image_encoder = ImageEncoderViT(64, 8, 32, 4, 2, 4, 32, 3, (1, 3))
        self.prompt_encoder = PromptEncoder(32, (8, 8), (64, 64), 16)
        self.mask_decoder = MaskDecoder(32, TwoWayTransformer(2, 32, 2, 64), 3, 32)
        self.register_buffer("pixel_mean", torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1), False)

    def preprocess(self, x):
        x = (x - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        return F.pad(x, (0, self.image_encoder.img_size - w, 0, self.image_encoder.img_size - h))

    def postprocess_masks(self, masks, input_size, original_size):
        s = self.image_encoder.img_size
        masks = F.interpolate(masks, (s, s), mode="bilinear", align_corners=False)[..., : input_size[0], : input_size[1]]
        return F.interpolate(masks, original_size, mode="bilinear", align_corners=False)


def load_sam(path):
    sam = Sam()
    missing, unexpected = sam.load_state_dict(torch.load(path), strict=False)
    if missing or unexpected:
        sys.exit(f"{path}: keys do not fit the tiny SAM (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return sam.eval()


# ---------------------------------------------------------------- utils/transforms.py and predictor.py
def preprocess_shape(h, w, long_side):
    scale = long_side * 1.0 / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


class Predictor:
    def __init__(self, sam):
        self.model, self.target = sam, sam.image_encoder.img_size

    def set_image(self, image):  # uint8 HWC RGB
        size = preprocess_shape(image.shape[0], image.shape[1], self.target)
        resized = np.array(resize(to_pil_image(image), size))  # PIL bilinear, as ResizeLongestSide.apply_image
        x = torch.as_tensor(resized).permute(2, 0, 1).contiguous()[None]
        self.original_size, self.input_size = image.shape[:2], tuple(x.shape[-2:])
        self.features = self.model.image_encoder(self.model.preprocess(x))

    def apply_coords(self, coords, original_size):
        nh, nw = preprocess_shape(original_size[0], original_size[1], self.target)
        coords = deepcopy(coords).astype(float)
        coords[..., 0] = coords[..., 0] * (nw / original_size[1])
        coords[..., 1] = coords[..., 1] * (nh / original_size[0])
        return coords

    def predict_torch(self, points, labels):  # multimask, logits
        sparse, dense = self.model.prompt_encoder(points, labels)
        low, iou = self.model.mask_decoder(self.features, self.model.prompt_encoder.get_dense_pe(), sparse, dense)
        return self.model.postprocess_masks(low, self.input_size, self.original_size), iou


# ---------------------------------------------------------------- utils/amg.py
class MaskData:
    def __init__(self, **kw):
        self._stats = dict(kw)

    def __setitem__(self, k, v):
        self._stats[k] = v

    def __delitem__(self, k):
        del self._stats[k]

    def __getitem__(self, k):
        return self._stats[k]

    def filter(self, keep):
        for k, v in self._stats.items():
            if v is None:
                self._stats[k] = None
            elif isinstance(v, torch.Tensor):
                self._stats[k] = v[torch.as_tensor(keep)]
            elif isinstance(v, np.ndarray):
                self._stats[k] = v[keep.detach().cpu().numpy()]
            elif isinstance(v, list) and keep.dtype == torch.bool:
                self._stats[k] = [a for i, a in enumerate(v) if keep[i]]
            elif isinstance(v, list):
                self._stats[k] = [v[i] for i in keep]

    def cat(self, new):
        for k, v in new._stats.items():
            if k not in self._stats or self._stats[k] is None:
                self._stats[k] = deepcopy(v)
            elif isinstance(v, torch.Tensor):
                self._stats[k] = torch.cat([self._stats[k], v], dim=0)
            elif isinstance(v, np.ndarray):
                self._stats[k] = np.concatenate([self._stats[k], v], axis=0)
            elif isinstance(v, list):
                self._stats[k] = self._stats[k] + deepcopy(v)

    def to_numpy(self):
        for k, v in self._stats.items():
            if isinstance(v, torch.Tensor):
                self._stats[k] = v.detach().cpu().numpy()


def build_point_grid(n):
    off = 1 / (2 * n)
    side = np.linspace(off, 1 - off, n)
    return np.stack([np.tile(side[None, :], (n, 1)), np.tile(side[:, None], (1, n))], axis=-1).reshape(-1, 2)


def generate_crop_boxes(im_size, n_layers, overlap_ratio):
    im_h, im_w = im_size
    boxes, layers = [[0, 0, im_w, im_h]], [0]
    for i in range(n_layers):
        n = 2 ** (i + 1)
        overlap = int(overlap_ratio * min(im_h, im_w) * (2 / n))
        cw, ch = (int(math.ceil((overlap * (n - 1) + L) / n)) for L in (im_w, im_h))
        for x0, y0 in product([int((cw - overlap) * j) for j in range(n)], [int((ch - overlap) * j) for j in range(n)]):
            boxes.append([x0, y0, min(x0 + cw, im_w), min(y0 + ch, im_h)])
            layers.append(i + 1)
    return boxes, layers


def stability_score(masks, thr, off):
    # IoU of the masks thresholded at thr ± off (Kirillov et al. 2023, App. B)
    inter = (masks > (thr + off)).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32)
    union = (masks > (thr - off)).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32)
    return inter / union


def batched_mask_to_box(masks):
    if torch.numel(masks) == 0:
        return torch.zeros(*masks.shape[:-2], 4, device=masks.device)
    shape = masks.shape
    h, w = shape[-2:]
    masks = masks.flatten(0, -3) if len(shape) > 2 else masks.unsqueeze(0)
    in_h, _ = torch.max(masks, dim=-1)
    hc = in_h * torch.arange(h)[None, :]
    bottom, _ = torch.max(hc, dim=-1)
    top, _ = torch.min(hc + h * (~in_h), dim=-1)
    in_w, _ = torch.max(masks, dim=-2)
    wc = in_w * torch.arange(w)[None, :]
    right, _ = torch.max(wc, dim=-1)
    left, _ = torch.min(wc + w * (~in_w), dim=-1)
    empty = (right < left) | (bottom < top)
    out = torch.stack([left, top, right, bottom], dim=-1) * (~empty).unsqueeze(-1)
    return out.reshape(*shape[:-2], 4) if len(shape) > 2 else out[0]


def uncrop_boxes_xyxy(boxes, crop_box):
    x0, y0, _, _ = crop_box
    return boxes + torch.tensor([[x0, y0, x0, y0]])


def is_box_near_crop_edge(boxes, crop_box, orig_box, atol=20.0):
    crop_t, orig_t = torch.as_tensor(crop_box, dtype=torch.float), torch.as_tensor(orig_box, dtype=torch.float)
    boxes = uncrop_boxes_xyxy(boxes, crop_box).float()
    near_crop = torch.isclose(boxes, crop_t[None, :], atol=atol, rtol=0)
    near_img = torch.isclose(boxes, orig_t[None, :], atol=atol, rtol=0)
    return torch.any(torch.logical_and(near_crop, ~near_img), dim=1)


def uncrop_masks(masks, crop_box, h, w):
    x0, y0, x1, y1 = crop_box
    if x0 == 0 and y0 == 0 and x1 == w and y1 == h:
        return masks
    px, py = w - (x1 - x0), h - (y1 - y0)
    return F.pad(masks, (x0, px - x0, y0, py - y0), value=0)


def mask_to_rle_pytorch(t):
    b, h, w = t.shape
    t = t.permute(0, 2, 1).flatten(1)
    change = (t[:, 1:] ^ t[:, :-1]).nonzero()
    out = []
    for i in range(b):
        idx = torch.cat([torch.tensor([0]), change[change[:, 0] == i, 1] + 1, torch.tensor([h * w])])
        counts = [] if t[i, 0] == 0 else [0]
        counts.extend((idx[1:] - idx[:-1]).tolist())
        out.append({"size": [h, w], "counts": counts})
    return out


def rle_to_mask(rle):
    h, w = rle["size"]
    mask = np.empty(h * w, dtype=bool)
    i, parity = 0, False
    for c in rle["counts"]:
        mask[i : i + c] = parity
        i += c
        parity ^= True
    return mask.reshape(w, h).transpose()


def connected_components8(m):
    """cv2.connectedComponentsWithStats(m, 8)'s (n_labels, labels, sizes): background 0, others numbered in raster order."""
    h, w = m.shape
    parent = list(range(h * w))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    fg = m.reshape(-1).astype(bool)
    for y in range(h):
        for x in range(w):
            p = y * w + x
            if not fg[p]:
                continue
            for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1)):
                yy, xx = y + dy, x + dx
                if 0 <= yy and 0 <= xx < w and fg[yy * w + xx]:
                    ra, rb = find(p), find(yy * w + xx)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
    labels, names = np.zeros(h * w, dtype=np.int32), {}
    for p in range(h * w):
        if fg[p]:
            labels[p] = names.setdefault(find(p), len(names) + 1)
    n = len(names) + 1
    sizes = np.bincount(labels, minlength=n)
    return n, labels.reshape(h, w), sizes


def remove_small_regions(mask, area_thresh, mode):
    holes = mode == "holes"
    n, regions, stats = connected_components8((holes ^ mask).astype(np.uint8))
    sizes = stats[1:]
    small = [i + 1 for i, s in enumerate(sizes) if s < area_thresh]
    if len(small) == 0:
        return mask, False
    fill = [0] + small
    if not holes:
        fill = [i for i in range(n) if i not in fill]
        if len(fill) == 0:
            fill = [int(np.argmax(sizes)) + 1]
    return np.isin(regions, fill), True


# ---------------------------------------------------------------- automatic_mask_generator.py
class AutomaticMaskGenerator:
    def __init__(self, sam, points_per_side=32, points_per_batch=64, pred_iou_thresh=0.88, stability_score_thresh=0.95,
                 stability_score_offset=1.0, box_nms_thresh=0.7, crop_n_layers=0, crop_nms_thresh=0.7,
                 crop_overlap_ratio=512 / 1500, crop_n_points_downscale_factor=1, min_mask_region_area=0):
        self.grids = [build_point_grid(int(points_per_side / crop_n_points_downscale_factor ** i)) for i in range(crop_n_layers + 1)]
        self.predictor, self.ppb = Predictor(sam), points_per_batch
        self.pred_iou_thresh, self.stab_thresh, self.stab_off = pred_iou_thresh, stability_score_thresh, stability_score_offset
        self.box_nms, self.crop_layers, self.crop_nms, self.overlap = box_nms_thresh, crop_n_layers, crop_nms_thresh, crop_overlap_ratio
        self.min_area = min_mask_region_area

    @torch.no_grad()
    def generate(self, image):
        data = self._generate_masks(image)
        if self.min_area > 0:
            data = self.postprocess_small_regions(data, self.min_area, max(self.box_nms, self.crop_nms))
        xywh = lambda b: [b[0], b[1], b[2] - b[0], b[3] - b[1]]
        return [{"segmentation": rle, "area": sum(rle["counts"][1::2]), "bbox": xywh(data["boxes"][i].tolist()),
                 "predicted_iou": data["iou_preds"][i].item(), "point_coords": [data["points"][i].tolist()],
                 "stability_score": data["stability_score"][i].item(), "crop_box": xywh(data["crop_boxes"][i].tolist())}
                for i, rle in enumerate(data["rles"])]

    def _generate_masks(self, image):
        size = image.shape[:2]
        boxes, layers = generate_crop_boxes(size, self.crop_layers, self.overlap)
        data = MaskData()
        for box, layer in zip(boxes, layers):
            data.cat(self._process_crop(image, box, layer, size))
        if len(boxes) > 1:
            b = data["crop_boxes"]
            scores = 1 / ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))  # smaller crops win
            data.filter(batched_nms(data["boxes"].float(), scores, torch.zeros_like(data["boxes"][:, 0]), iou_threshold=self.crop_nms))
        data.to_numpy()
        return data

    def _process_crop(self, image, crop_box, layer, orig_size):
        x0, y0, x1, y1 = crop_box
        crop = image[y0:y1, x0:x1, :]
        csize = crop.shape[:2]
        self.predictor.set_image(crop)
        points = self.grids[layer] * np.array(csize)[None, ::-1]
        data = MaskData()
        for s in range(0, len(points), self.ppb):
            data.cat(self._process_batch(points[s : s + self.ppb], csize, crop_box, orig_size))
        keep = batched_nms(data["boxes"].float(), data["iou_preds"], torch.zeros_like(data["boxes"][:, 0]), iou_threshold=self.box_nms)
        data.filter(keep)
        data["boxes"] = uncrop_boxes_xyxy(data["boxes"], crop_box)
        data["points"] = data["points"] + torch.tensor([[x0, y0]])
        data["crop_boxes"] = torch.tensor([crop_box for _ in range(len(data["rles"]))])
        return data

    def _process_batch(self, points, im_size, crop_box, orig_size):
        oh, ow = orig_size
        p = torch.as_tensor(self.predictor.apply_coords(points, im_size))
        masks, iou = self.predictor.predict_torch(p[:, None, :], torch.ones(p.shape[0], dtype=torch.int)[:, None])
        data = MaskData(masks=masks.flatten(0, 1), iou_preds=iou.flatten(0, 1), points=torch.as_tensor(points.repeat(masks.shape[1], axis=0)))
        del masks
        if self.pred_iou_thresh > 0.0:
            data.filter(data["iou_preds"] > self.pred_iou_thresh)
        data["stability_score"] = stability_score(data["masks"], Sam.mask_threshold, self.stab_off)
        if self.stab_thresh > 0.0:
            data.filter(data["stability_score"] >= self.stab_thresh)
        data["masks"] = data["masks"] > Sam.mask_threshold
        data["boxes"] = batched_mask_to_box(data["masks"])
        keep = ~is_box_near_crop_edge(data["boxes"], crop_box, [0, 0, ow, oh])
        if not torch.all(keep):
            data.filter(keep)
        data["masks"] = uncrop_masks(data["masks"], crop_box, oh, ow)
        data["rles"] = mask_to_rle_pytorch(data["masks"])
        del data["masks"]
        return data

    @staticmethod
    def postprocess_small_regions(data, min_area, nms_thresh):
        if len(data["rles"]) == 0:
            return data
        new, scores = [], []
        for rle in data["rles"]:
            m, changed = remove_small_regions(rle_to_mask(rle), min_area, "holes")
            unchanged = not changed
            m, changed = remove_small_regions(m, min_area, "islands")
            new.append(torch.as_tensor(m).unsqueeze(0))
            scores.append(float(unchanged and not changed))
        masks = torch.cat(new, dim=0)
        boxes = batched_mask_to_box(masks)
        keep = batched_nms(boxes.float(), torch.as_tensor(scores), torch.zeros_like(boxes[:, 0]), iou_threshold=nms_thresh)
        for i in keep:
            if scores[i] == 0.0:
                data["rles"][i] = mask_to_rle_pytorch(masks[i].unsqueeze(0))[0]
                data["boxes"][i] = boxes[i]
        data.filter(keep)
        return data


# ---------------------------------------------------------------- check against the official generator's output
def check():
    torch.set_num_threads(1)
    sam = load_sam(os.path.join(FIX, "sam_tiny.pth"))
    idx = json.load(open(os.path.join(FIX, "sam_tiny_io.json")))
    raw = open(os.path.join(FIX, "sam_tiny_io.bin"), "rb").read()
    exp = json.load(open(os.path.join(FIX, "amg", "amg_expected.json")))
    bad = 0
    for key, want in exp["results"].items():
        img, cname = key.split("/")
        v = idx[f"{img}/image"]
        image = np.frombuffer(raw[v["offset"] : v["offset"] + v["nbytes"]], dtype=v["dtype"]).reshape(v["shape"])
        got = AutomaticMaskGenerator(sam, **exp["configs"][cname]).generate(image)
        n = min(len(got), len(want))
        rle_eq = sum(g["segmentation"] == w["segmentation"] for g, w in zip(got, want))
        exact = all(g[k] == w[k] for g, w in zip(got, want) for k in ("area", "bbox", "point_coords", "crop_box"))
        d_iou = max((abs(g["predicted_iou"] - w["predicted_iou"]) for g, w in zip(got, want)), default=0.0)
        d_stab = max((abs(g["stability_score"] - w["stability_score"]) for g, w in zip(got, want)), default=0.0)
        ok = len(got) == len(want) and rle_eq == n and exact and d_iou <= 1e-5 and d_stab <= 1e-6
        bad += not ok
        print(f"{key:32s} masks {len(got)}/{len(want)}  identical RLEs {rle_eq}/{n}  area/bbox/point/crop exact {exact}  "
              f"max |d predicted_iou| {d_iou:.1e}  max |d stability| {d_stab:.1e}  {'ok' if ok else 'MISMATCH'}")
    sys.exit(1 if bad else 0)


def bench(folder, threads, pps, ppb, pred_iou, stab, reps):
    torch.set_num_threads(threads)
    sam = load_sam(os.path.join(FIX, "sam_tiny.pth"))
    gen = AutomaticMaskGenerator(sam, points_per_side=pps, points_per_batch=ppb, pred_iou_thresh=pred_iou, stability_score_thresh=stab)
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith((".png", ".jpg", ".jpeg")))
    gen.generate(np.array(Image.open(os.path.join(folder, files[0])).convert("RGB")))  # warm-up
    walls, cpus, masks = [], [], 0
    for _ in range(reps):
        t, c, masks = time.perf_counter(), time.process_time(), 0
        for f in files:
            masks += len(gen.generate(np.array(Image.open(os.path.join(folder, f)).convert("RGB"))))
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    print("images", len(files))
    print("masks", masks)
    print("wall_s", float(np.median(walls)))
    print("cpu_s", float(np.median(cpus)))  # CPU time of the process: steadier on a shared machine
    print("pytorch-cpu: torch", torch.__version__, torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "check":
        check()
    elif len(sys.argv) >= 8 and sys.argv[1] == "bench":
        a = sys.argv[2:]
        bench(a[0], int(a[1]), int(a[2]), int(a[3]), float(a[4]), float(a[5]), int(a[6]) if len(a) > 6 else 3)
    else:
        sys.exit(__doc__)
