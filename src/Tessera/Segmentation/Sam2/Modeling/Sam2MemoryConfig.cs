namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// Sizes of SAM 2's memory attention and memory encoder, read from a checkpoint's weights
/// (<see cref="FromWeights"/>). What the weights cannot tell (heads, RoPE base, the mask downsampler's stride and
/// padding) is what every official SAM 2 and 2.1 configuration uses.
/// </summary>
public sealed record Sam2MemoryConfig
{
    /// <summary>Width of the image features (the neck's d_model; 256 in the official models).</summary>
    public int Dim { get; init; } = 256;
    /// <summary>Width of the memories (the memory encoder's out_dim; 64).</summary>
    public int MemoryDim { get; init; } = 64;
    /// <summary>Memory attention layers (4).</summary>
    public int Layers { get; init; } = 4;
    /// <summary>Memory attention MLP width (2048).</summary>
    public int FeedForward { get; init; } = 2048;
    /// <summary>Attention heads (1).</summary>
    public int Heads { get; init; } = 1;
    /// <summary>RoPE base (10000).</summary>
    public double RopeTheta { get; init; } = 10000;
    /// <summary>Convolutions of the mask downsampler before its 1 × 1 projection (4: stride 2 each, total 16).</summary>
    public int DownsamplerLayers { get; init; } = 4;
    /// <summary>Kernel of the mask downsampler's convolutions (3).</summary>
    public int DownsamplerKernel { get; init; } = 3;
    /// <summary>Stride of the mask downsampler's convolutions (2).</summary>
    public int DownsamplerStride { get; init; } = 2;
    /// <summary>ConvNeXt blocks in the fuser (2).</summary>
    public int FuserLayers { get; init; } = 2;
    /// <summary>Kernel of the fuser's depthwise convolutions (7).</summary>
    public int FuserKernel { get; init; } = 7;

    /// <summary>The official configuration.</summary>
    public static Sam2MemoryConfig Official { get; } = new();

    /// <summary>
    /// The sizes stated by the shapes of the official keys (<c>memory_attention.*</c>, <c>memory_encoder.*</c>);
    /// <paramref name="shape"/> returns a key's shape or null when absent.
    /// </summary>
    /// <exception cref="TesseraUserException">A key the memory modules need is missing.</exception>
    public static Sam2MemoryConfig FromWeights(Func<string, long[]?> shape)
    {
        long[] Need(string key) => shape(key) ?? throw new TesseraUserException(nameof(shape), $"SAM 2 video weights need the key '{key}', which the checkpoint lacks");
        int Count(string prefix, string suffix)
        {
            int n = 0;
            while (shape($"{prefix}{n}{suffix}") is not null) n++;
            return n;
        }
        int dim = (int)Need("memory_attention.norm.weight")[0];
        var outProj = shape("memory_encoder.out_proj.weight");
        int convs = 0;
        while (shape($"memory_encoder.mask_downsampler.encoder.{3 * convs}.weight") is { Length: 4 } s && s[2] > 1) convs++;
        return new Sam2MemoryConfig
        {
            Dim = dim,
            MemoryDim = outProj is null ? dim : (int)outProj[0],
            Layers = Count("memory_attention.layers.", ".norm1.weight"),
            FeedForward = (int)Need("memory_attention.layers.0.linear1.weight")[0],
            DownsamplerLayers = convs,
            DownsamplerKernel = (int)Need("memory_encoder.mask_downsampler.encoder.0.weight")[2],
            FuserLayers = Count("memory_encoder.fuser.layers.", ".dwconv.weight"),
            FuserKernel = (int)Need("memory_encoder.fuser.layers.0.dwconv.weight")[2],
        };
    }
}
