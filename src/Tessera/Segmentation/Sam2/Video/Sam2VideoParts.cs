using Tessera.Segmentation.Sam.Modeling;
using Tessera.Segmentation.Sam2.Modeling;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// The weights only SAM 2's video predictor uses (Ravi et al. 2024, §4), under their official names: the memory
/// attention and memory encoder, the temporal encodings of the memories (<c>maskmem_tpos_enc</c>), the "no memory"
/// position encoding, the object-pointer projection (a 3-layer MLP in the released models), the pointers' temporal
/// projection (SAM 2.1), the mask-prompt downsampler, the no-object pointer and (SAM 2.1) the no-object spatial embedding.
/// Built from a checkpoint's map (<see cref="Sam2Model.VideoWeights"/>) by <see cref="FromWeights"/>.
/// </summary>
public sealed class Sam2VideoParts : Module
{
    private readonly Sam2MemoryAttention memory_attention;
    private readonly Sam2MemoryEncoder memory_encoder;
    private readonly Parameter maskmem_tpos_enc;
    private readonly Parameter no_mem_pos_enc;
    private readonly Module<torch.Tensor, torch.Tensor> obj_ptr_proj;
    private readonly Linear? obj_ptr_tpos_proj;
    private readonly Conv2d mask_downsample;
    private readonly Parameter no_obj_ptr;
    private readonly Parameter? no_obj_embed_spatial;

    /// <summary>Creates the parts (random weights) for image features of width <paramref name="config"/>.Dim.</summary>
    public Sam2VideoParts(Sam2MemoryConfig config, int memories, bool pointerMlp, bool temporalProjection, bool noObjectSpatial) : base(nameof(Sam2VideoParts))
    {
        Memory = config;
        memory_attention = new Sam2MemoryAttention(config);
        memory_encoder = new Sam2MemoryEncoder(config);
        maskmem_tpos_enc = new Parameter(torch.zeros(memories, 1, 1, config.MemoryDim));
        no_mem_pos_enc = new Parameter(torch.zeros(1, 1, config.Dim));
        obj_ptr_proj = pointerMlp ? new SamMlp(config.Dim, config.Dim, config.Dim, 3) : Linear(config.Dim, config.Dim);
        if (temporalProjection) obj_ptr_tpos_proj = Linear(config.Dim, config.MemoryDim);
        mask_downsample = Conv2d(1, 1, 4, stride: 4);
        no_obj_ptr = new Parameter(torch.zeros(1, config.Dim));
        if (noObjectSpatial) no_obj_embed_spatial = new Parameter(torch.zeros(1, config.MemoryDim));
        RegisterComponents();
    }

    /// <summary>The memory modules' sizes.</summary>
    public Sam2MemoryConfig Memory { get; }
    /// <summary>Memories attended per frame: the conditioning frames' plus num_maskmem − 1 recent ones (num_maskmem, 7).</summary>
    public int NumMaskMemories => (int)maskmem_tpos_enc.shape[0];
    /// <summary>Whether pointers get a projected, signed temporal encoding (SAM 2.1) rather than none (SAM 2.0).</summary>
    public bool PointerTemporalEncoding => obj_ptr_tpos_proj is not null;
    /// <summary>The memory attention.</summary>
    public Sam2MemoryAttention MemoryAttention => memory_attention;
    /// <summary>The memory encoder.</summary>
    public Sam2MemoryEncoder MemoryEncoder => memory_encoder;
    /// <summary>Temporal encodings of the memories [num_maskmem, 1, 1, C_mem].</summary>
    public torch.Tensor MaskMemoryTemporalEncoding => maskmem_tpos_enc;
    /// <summary>Position encoding of the "no memory" token [1, 1, C].</summary>
    public torch.Tensor NoMemoryPositionEncoding => no_mem_pos_enc;
    /// <summary>The pointer of a frame without the object [1, C].</summary>
    public torch.Tensor NoObjectPointer => no_obj_ptr;
    /// <summary>Added to the memory of a frame without the object [1, C_mem] (SAM 2.1), or null.</summary>
    public torch.Tensor? NoObjectSpatialEmbedding => no_obj_embed_spatial;

    /// <summary>Object pointers [B, C] of mask-decoder output tokens [B, C].</summary>
    public torch.Tensor ProjectPointer(torch.Tensor token) => obj_ptr_proj.forward(token);

    /// <summary>The pointers' temporal encoding projected to the memory width (SAM 2.1), or the encoding itself.</summary>
    public torch.Tensor ProjectTemporal(torch.Tensor encoding) => obj_ptr_tpos_proj is null ? encoding : obj_ptr_tpos_proj.forward(encoding);

    /// <summary>A mask prompt [B, 1, S, S] downsampled 4× to the SAM prompt scale (mask_downsample).</summary>
    public torch.Tensor DownsampleMaskPrompt(torch.Tensor mask) => mask_downsample.forward(mask);

    /// <summary>
    /// The parts of a checkpoint's video weights (official names), sizes read from their shapes, every tensor used.
    /// <paramref name="source"/> names the checkpoint in messages.
    /// </summary>
    /// <exception cref="TesseraFormatException">A tensor missing, unexpected or of another shape.</exception>
    /// <exception cref="TesseraUserException">The checkpoint has no video weights.</exception>
    public static Sam2VideoParts FromWeights(IReadOnlyDictionary<string, torch.Tensor> weights, string source)
    {
        var shape = Sam2Weights.Shapes(weights);
        if (shape("maskmem_tpos_enc") is not { } tpos)
            throw new TesseraFormatException(source, "no SAM 2 video weights (maskmem_tpos_enc is missing)");
        var parts = new Sam2VideoParts(Sam2MemoryConfig.FromWeights(shape), (int)tpos[0],
            pointerMlp: shape("obj_ptr_proj.layers.0.weight") is not null,
            temporalProjection: shape("obj_ptr_tpos_proj.weight") is not null,
            noObjectSpatial: shape("no_obj_embed_spatial") is not null);
        try
        {
            Sam2Weights.Load(parts, weights, "", source);
            parts.eval();
            return parts;
        }
        catch
        {
            parts.Dispose();
            throw;
        }
    }
}
