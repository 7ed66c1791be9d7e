using Tessera.Segmentation.Backbones;
using Tessera.Segmentation.Data;

namespace Tessera.Segmentation.Models;

/// <summary>
/// Everything needed to rebuild a segmentation model; stored as JSON in its checkpoints' metadata.
/// Model: gcn, deeplabv3, fcn, plus the ablation baselines kxk (one k × k convolution per stage instead of GCN)
/// and stacked3x3 (stacked 3 × 3 convolutions of about the GCN's parameter count).
/// </summary>
public sealed record SegModelConfig
{
    /// <summary>The architecture.</summary>
    public SegModelKind Model { get; init; } = SegModelKind.Gcn;
    /// <summary>Classes.</summary>
    public int Classes { get; init; } = 11;
    /// <summary>GCN kernel size k (odd).</summary>
    public int K { get; init; } = 15;
    /// <summary>Boundary refinement on (GCN-Net family).</summary>
    public bool BoundaryRefinement { get; init; } = true;
    /// <summary>ResNet depth (18, 34, 50 or 101).</summary>
    public int Depth { get; init; } = 18;
    /// <summary>Backbone base width (64 = torchvision).</summary>
    public int BaseWidth { get; init; } = 32;
    /// <summary>3×3 stride-2 stem without max-pool (small inputs).</summary>
    public bool SmallStem { get; init; } = true;
    /// <summary>Output stride for deeplabv3/fcn (8 or 16; relative to the torchvision stem).</summary>
    public int OutputStride { get; init; } = 16;
    /// <summary>ASPP on (deeplabv3).</summary>
    public bool Aspp { get; init; } = true;
    /// <summary>ASPP rates, or null for (6, 12, 18) scaled by the output stride.</summary>
    public int[]? Rates { get; init; }
    /// <summary>Rates of the last stage's 3 × 3 convolutions one by one (deeplabv3/fcn), or null for the standard dilation.</summary>
    public int[]? Dilations { get; init; }

    /// <summary>
    /// Input convention: false, RGB scaled to [0, 1] (Fashion-MNIST scenes); true, RGB on the 0–255 scale
    /// normalised by ImageNet's mean and standard deviation (mmsegmentation's data preprocessor, dataset training).
    /// </summary>
    public bool ImageNetInput { get; init; }

    /// <summary>mmsegmentation's auxiliary FCN head on layer3 (training loss weight 0.4; unused at inference).</summary>
    public bool AuxHead { get; init; }

    /// <summary>
    /// The classes the model predicts (names, colours, label-file convention), recorded by training; null in
    /// checkpoints of earlier versions (see <see cref="ClassLabels"/>).
    /// </summary>
    public LabelSet? Labels { get; init; }

    /// <summary><see cref="Labels"/>, or for a configuration without them <see cref="LabelSet.Default"/>.</summary>
    [JsonIgnore]
    public LabelSet ClassLabels => Labels ?? LabelSet.Default(Classes, ImageNetInput);

    /// <summary>Known model names.</summary>
    public static IReadOnlyList<string> Models => EnumNames.Names<SegModelKind>();

    /// <summary>Checks the settings; messages name the property (<see cref="TesseraUserException.Parameter"/>).</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Model)) throw new TesseraUserException(nameof(Model), $"{(int)Model} is not a model; expected {string.Join(", ", Models)}");
        if (K < 1 || K % 2 == 0) throw new TesseraUserException(nameof(K), $"{K} must be odd and positive (GCN kernels are centred)");
        if (Depth is not (18 or 34 or 50 or 101)) throw new TesseraUserException(nameof(Depth), $"{Depth}; expected 18, 34, 50 or 101");
        if (OutputStride is not (8 or 16 or 32)) throw new TesseraUserException(nameof(OutputStride), $"{OutputStride}; expected 8, 16 or 32");
        if (Dilations is not null)
        {
            if (Model is not (SegModelKind.DeepLabV3 or SegModelKind.Fcn)) throw new TesseraUserException(nameof(Dilations), $"only for deeplabv3 and fcn (the dilated backbones), not {EnumNames.Name(Model)}");
            if (OutputStride == 32) throw new TesseraUserException(nameof(Dilations), $"needs a dilated last stage ({nameof(OutputStride)} 16 or 8)");
            int n = ResNet.Layer4Convolutions(DepthEnum);
            if (Dilations.Length != n || Dilations.Any(r => r < 1))
                throw new TesseraUserException(nameof(Dilations), $"[{string.Join(",", Dilations)}]; expected {n} positive rates, one per 3×3 convolution of the last stage of ResNet-{Depth}");
        }
        if (Classes < 2) throw new TesseraUserException(nameof(Classes), $"{Classes}; expected at least 2");
        Labels?.Validate(Classes);
        // oneDNN (libtorch 2.10) returns NaN input gradients for convolutions on 8- or 11-channel maps on AVX-512 CPUs.
        if (BaseWidth < 16 || BaseWidth % 16 != 0) throw new TesseraUserException(nameof(BaseWidth), $"{BaseWidth}; expected a positive multiple of 16 (libtorch's oneDNN kernels give NaN gradients on narrower maps here)");
    }

    /// <summary>Builds the model.</summary>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Build()
    {
        Validate();
        var depth = DepthEnum;
        var model = BuildMain(depth);
        return AuxHead ? new WithAuxiliaryHead(model, Classes) : model;
    }

    /// <summary>
    /// Builds the model and, when <paramref name="backboneWeights"/> is given, loads a torchvision ResNet state dict
    /// (.pth or .safetensors) into its backbone.
    /// </summary>
    /// <exception cref="TesseraUserException">Weights for a model without the torchvision layout (width 64, standard stem); named as <paramref name="parameter"/>.</exception>
    public torch.nn.Module<torch.Tensor, torch.Tensor> Build(string? backboneWeights, string parameter = "BackboneWeights")
    {
        var model = Build();
        if (backboneWeights is null) return model;
        if (SmallStem || BaseWidth != 64)
        {
            model.Dispose();
            throw new TesseraUserException(parameter, "torchvision weights need the torchvision layout (width 64, standard stem)");
        }
        var backbone = model is IResNetSegmenter s ? s.Backbone : throw new InvalidOperationException(model.GetType().Name);
        backbone.LoadTorchvision(backboneWeights);
        return model;
    }

    private torch.nn.Module<torch.Tensor, torch.Tensor> BuildMain(ResNetDepth depth)
    {
        return Model switch
        {
            SegModelKind.Gcn => new GcnNet(Classes, K, BoundaryRefinement, depth, BaseWidth, SmallStem),
            SegModelKind.Kxk => new GcnNet(Classes, K, BoundaryRefinement, depth, BaseWidth, SmallStem, GcnVariant.FullKernel),
            SegModelKind.Stacked3x3 => new GcnNet(Classes, K, BoundaryRefinement, depth, BaseWidth, SmallStem, GcnVariant.Stacked3x3),
            SegModelKind.DeepLabV3 => new DeepLabV3(Classes, depth, OutputStride, Aspp, Rates, BaseWidth, SmallStem, Dilations),
            SegModelKind.Fcn => new Fcn(Classes, depth, OutputStride, BaseWidth, SmallStem, Dilations),
            _ => throw new TesseraUserException(nameof(Model), $"{(int)Model} is not a model; expected {string.Join(", ", Models)}"),
        };
    }

    private ResNetDepth DepthEnum => Depth switch { 18 => ResNetDepth.ResNet18, 34 => ResNetDepth.ResNet34, 101 => ResNetDepth.ResNet101, _ => ResNetDepth.ResNet50 };

    /// <summary>As JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this);

    /// <summary>From JSON; a malformed text is a user error naming <paramref name="source"/>.</summary>
    public static SegModelConfig FromJson(string json, string source)
    {
        try { return JsonSerializer.Deserialize<SegModelConfig>(json) ?? throw new TesseraFormatException(source, "empty model config"); }
        catch (JsonException e) { throw new TesseraFormatException(source, $"model config is not valid JSON ({e.Message})", e); }
    }
}
