# A SAM 2.1 Hiera-T (configs/sam2.1/sam2.1_hiera_t.yaml) with random weights (seed 0; object-score bias 2, objects present),
# saved in the official checkpoint layout, for timing `tessera sam track` where the official checkpoint is not at hand:
#   bench/scripts/chroot-python.sh /work/chroot-trixie bench/scripts/sam2_random_hiera_t.py SAM2_SOURCES OUT.pt
# SAM2_SOURCES holds `git archive 2b90b9f sam2` of facebookresearch/sam2; the shims are tests/fixtures/sam2/make_fixtures.py's.
# The benches (onnx_export.py's sam2t, sam2_video_torch.py) import `build` (the same model; SAM2VideoPredictor with
# build_sam2_video_predictor's overrides for video).
import importlib.util, os, sys
sys.dont_write_bytecode = True


def install(src):
    """Puts the official sources first on sys.path with the hydra/iopath/tqdm stand-ins of the SAM 2 fixture generator."""
    sys.path.insert(0, os.path.abspath(src))
    spec = importlib.util.spec_from_file_location("mf", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "sam2", "make_fixtures.py"))
    mf = importlib.util.module_from_spec(spec); spec.loader.exec_module(mf)
    mf.install_shims()


def build(video=False):
    """The Hiera-T SAM2Base (or, with video, SAM2VideoPredictor as build_sam2_video_predictor makes it), seed 0."""
    import torch
    from sam2.modeling.backbones.hieradet import Hiera
    from sam2.modeling.backbones.image_encoder import FpnNeck, ImageEncoder
    from sam2.modeling.memory_attention import MemoryAttention, MemoryAttentionLayer
    from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
    from sam2.modeling.position_encoding import PositionEmbeddingSine
    from sam2.modeling.sam.transformer import RoPEAttention
    from sam2.modeling.sam2_base import SAM2Base
    torch.manual_seed(0)
    trunk = Hiera(embed_dim=96, num_heads=1, stages=[1, 2, 7, 2], global_att_blocks=[5, 7, 9], window_pos_embed_bkg_spatial_size=[7, 7])
    neck = FpnNeck(position_encoding=PositionEmbeddingSine(num_pos_feats=256, normalize=True, temperature=10000), d_model=256,
                   backbone_channel_list=[768, 384, 192, 96], fpn_top_down_levels=[2, 3], fpn_interp_model="nearest")
    enc = ImageEncoder(trunk=trunk, neck=neck, scalp=1)
    layer = MemoryAttentionLayer(activation="relu", d_model=256, dim_feedforward=2048, dropout=0.1, pos_enc_at_attn=False,
        pos_enc_at_cross_attn_keys=True, pos_enc_at_cross_attn_queries=False,
        self_attention=RoPEAttention(rope_theta=10000.0, feat_sizes=[64, 64], embedding_dim=256, num_heads=1, downsample_rate=1, dropout=0.1),
        cross_attention=RoPEAttention(rope_theta=10000.0, feat_sizes=[64, 64], rope_k_repeat=True, embedding_dim=256, num_heads=1, downsample_rate=1, dropout=0.1, kv_in_dim=64))
    ma = MemoryAttention(d_model=256, pos_enc_at_input=True, layer=layer, num_layers=4)
    me = MemoryEncoder(out_dim=64, in_dim=256, position_encoding=PositionEmbeddingSine(num_pos_feats=64, normalize=True, temperature=10000),
        mask_downsampler=MaskDownSampler(kernel_size=3, stride=2, padding=1),
        fuser=Fuser(CXBlock(dim=256, kernel_size=7, padding=3, layer_scale_init_value=1e-6, use_dwconv=True), num_layers=2))
    cls, extra = SAM2Base, {}
    if video:
        from sam2.sam2_video_predictor import SAM2VideoPredictor
        cls = SAM2VideoPredictor
        extra = dict(fill_hole_area=8, binarize_mask_from_pts_for_mem_enc=True,
                     sam_mask_decoder_extra_args=dict(dynamic_multimask_via_stability=True, dynamic_multimask_stability_delta=0.05,
                                                      dynamic_multimask_stability_thresh=0.98))
    model = cls(image_encoder=enc, memory_attention=ma, memory_encoder=me, num_maskmem=7, image_size=1024,
        sigmoid_scale_for_mem_enc=20.0, sigmoid_bias_for_mem_enc=-10.0, use_mask_input_as_output_without_sam=True,
        directly_add_no_mem_embed=True, no_obj_embed_spatial=True, use_high_res_features_in_sam=True, multimask_output_in_sam=True,
        iou_prediction_use_sigmoid=True, use_obj_ptrs_in_encoder=True, add_tpos_enc_to_obj_ptrs=True, proj_tpos_enc_in_obj_ptrs=True,
        use_signed_tpos_enc_to_obj_ptrs=True, only_obj_ptrs_in_the_past_for_eval=True, pred_obj_scores=True, pred_obj_scores_mlp=True,
        fixed_no_obj_ptr=True, multimask_output_for_tracking=True, use_multimask_token_for_obj_ptr=True, multimask_min_pt_num=0,
        multimask_max_pt_num=1, use_mlp_for_obj_ptr_proj=True, compile_image_encoder=False, **extra)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "pred_obj_score_head" in n and n.endswith("layers.2.bias"): p.fill_(2.0)
    return model


if __name__ == "__main__":
    import torch
    SRC, OUT = sys.argv[1], sys.argv[2]
    install(SRC)
    model = build()
    torch.save({"model": model.state_dict()}, OUT)
    print(sum(p.numel() for p in model.parameters()))
