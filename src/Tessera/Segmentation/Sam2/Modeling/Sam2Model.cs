using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// SAM 2 / SAM 2.1 (Ravi et al. 2024) for images: the Hiera image encoder with its FPN neck, SAM's prompt encoder and
/// SAM 2's mask decoder, under the official state-dict names, so <c>sam2.1_hiera_{tiny,small,base_plus,large}.pt</c> and
/// SAM 2.0's <c>sam2_hiera_*.pt</c> load as released (<see cref="Load"/>). The video parts' weights (memory attention,
/// memory encoder, object-pointer projections, …) are kept, untouched, in <see cref="VideoWeights"/>.
/// </summary>
public sealed class Sam2Model : torch.nn.Module
{
    /// <summary>
    /// Top-level names (a key equal to one, or starting with it and a dot) of the weights only SAM 2's video predictor
    /// uses (sam2_base.py): they are kept in <see cref="VideoWeights"/>; any other key that the image model lacks is an error.
    /// </summary>
    public static IReadOnlyList<string> VideoKeyRoots { get; } =
        ["memory_attention", "memory_encoder", "maskmem_tpos_enc", "no_mem_pos_enc", "obj_ptr_proj", "obj_ptr_tpos_proj", "mask_downsample", "no_obj_ptr", "no_obj_embed_spatial"];

    /// <summary>Per-channel RGB mean on the 0–1 scale (ImageNet's, SAM2Transforms).</summary>
    public static readonly float[] PixelMean = [0.485f, 0.456f, 0.406f];

    /// <summary>Per-channel RGB standard deviation on the 0–1 scale.</summary>
    public static readonly float[] PixelStd = [0.229f, 0.224f, 0.225f];

    private readonly Sam2ImageEncoder image_encoder;
    private readonly PromptEncoder sam_prompt_encoder;
    private readonly MaskDecoder sam_mask_decoder;
    private readonly Parameter no_mem_embed;
    private readonly Dictionary<string, torch.Tensor> _video = new(StringComparer.Ordinal);

    /// <summary>Creates a model around <paramref name="imageEncoder"/> with heads of <paramref name="heads"/> (random weights).</summary>
    public Sam2Model(Sam2ImageEncoder imageEncoder, Sam2HeadsConfig? heads = null) : base(nameof(Sam2Model))
    {
        Heads = heads ?? new Sam2HeadsConfig();
        image_encoder = imageEncoder;
        sam_prompt_encoder = Heads.NewPromptEncoder();
        sam_mask_decoder = Heads.NewMaskDecoder();
        no_mem_embed = new Parameter(torch.zeros(1, 1, Heads.HiddenDim));
        RegisterComponents();
    }

    /// <summary>The heads' configuration.</summary>
    public Sam2HeadsConfig Heads { get; }

    /// <summary>Side of the square model input.</summary>
    public int ImageSize => Heads.ImageSize;

    /// <summary>The image encoder (Hiera trunk and FPN neck).</summary>
    public Sam2ImageEncoder ImageEncoder => image_encoder;

    /// <summary>The prompt encoder (SAM's).</summary>
    public PromptEncoder PromptEncoder => sam_prompt_encoder;

    /// <summary>The mask decoder (SAM's, with SAM 2's switches).</summary>
    public MaskDecoder MaskDecoder => sam_mask_decoder;

    /// <summary>The "no memory" embedding [1, 1, C] that the image predictor adds to the image embedding (directly_add_no_mem_embed).</summary>
    public torch.Tensor NoMemoryEmbedding => no_mem_embed;

    /// <summary>The checkpoint's weights of the video parts, by their official names (see <see cref="VideoKeyRoots"/>); the model owns them.</summary>
    public IReadOnlyDictionary<string, torch.Tensor> VideoWeights => _video;

    /// <summary>Whether <paramref name="key"/> belongs to the video parts (<see cref="VideoKeyRoots"/>).</summary>
    public static bool IsVideoKey(string key) =>
        VideoKeyRoots.Any(r => key == r || (key.StartsWith(r, StringComparison.Ordinal) && key.Length > r.Length && key[r.Length] == '.'));

    /// <summary>
    /// Loads an official SAM 2 / SAM 2.1 checkpoint (<c>{"model": state_dict}</c> .pt as released, or a safetensors file of the
    /// same tensors): sizes read from the weights, every image tensor checked by name and shape and used, the video parts'
    /// tensors kept in <see cref="VideoWeights"/>, and anything else an error naming it.
    /// </summary>
    /// <param name="path">The checkpoint.</param>
    /// <param name="device">Where the model goes (default: the CPU).</param>
    /// <param name="dynamicMultimask">The official builder's dynamic multimask fallback (on there by default).</param>
    /// <param name="imageSize">Side of the square model input (the configuration's image_size, which the weights do not show; 1024 for every release).</param>
    /// <exception cref="TesseraFormatException">Unreadable, not a SAM 2 checkpoint, or a tensor missing, misshaped or unknown.</exception>
    public static Sam2Model Load(string path, torch.Device? device = null, bool dynamicMultimask = true, int imageSize = 1024)
    {
        Runtime.TorchRuntime.EnsureConfigured(); // issue 28: libtorch set up on first use unless the application did it
        var tensors = Checkpoint.ReadAny(path);
        Sam2Model? model = null;
        try
        {
            model = FromTensors(path, tensors, dynamicMultimask, imageSize);
            if (device is not null)
            {
                model.to(device);
                foreach (var key in model._video.Keys.ToList())
                    model._video[key] = Runtime.TensorPlacement.MoveTo(model._video[key], device);
            }
            return model;
        }
        catch
        {
            model?.Dispose();
            throw;
        }
        finally
        {
            foreach (var (key, t) in tensors)
                if (model is null || !model._video.ContainsKey(key)) t.Dispose();
        }
    }

    /// <summary>Whether a state dict is SAM 2's (it has SAM 2's mask decoder).</summary>
    public static bool IsSam2(IEnumerable<string> keys) => keys.Contains("sam_mask_decoder.mask_tokens.weight");

    // Builds the model a state dict holds and copies the image tensors into it; the video tensors are taken as they are.
    private static Sam2Model FromTensors(string path, Dictionary<string, torch.Tensor> tensors, bool dynamicMultimask, int imageSize)
    {
        if (!IsSam2(tensors.Keys))
            throw new TesseraFormatException(path, "not a SAM 2 checkpoint: tensor 'sam_mask_decoder.mask_tokens.weight' is missing");
        long[]? Shape(string key) => tensors.TryGetValue(key, out var t) ? t.shape : null;
        Sam2HeadsConfig heads;
        Sam2ImageEncoder encoder;
        try
        {
            heads = Sam2HeadsConfig.FromWeights(Shape);
            heads = heads with { Decoder = heads.Decoder with { DynamicMultimask = dynamicMultimask }, Sizes = heads.Sizes with { ImageSize = imageSize } };
            encoder = new Sam2ImageEncoder(Sam2EncoderConfig.FromWeights(Shape));
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new TesseraFormatException(path, $"not a SAM 2 checkpoint: {e.Message}", e);
        }
        var image = tensors.Where(kv => !IsVideoKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var model = new Sam2Model(encoder, heads);
        try
        {
            var state = model.state_dict();
            Checkpoint.Validate(path, state, image);
            using (torch.no_grad())
                foreach (var (name, target) in state) target.copy_(image[name]);
            foreach (var (key, t) in tensors)
                if (IsVideoKey(key)) model._video[key] = t;
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes the model in the official checkpoint layout, atomically: <c>torch.save({"model": state_dict})</c>'s zip
    /// container with the image model's tensors and the <see cref="VideoWeights"/> under their official names — the key set
    /// and shapes of the checkpoint it was loaded from, readable by <see cref="Load"/> and by the official <c>build_sam2</c>.
    /// </summary>
    public void SaveOfficial(string path)
    {
        using var scope = torch.NewDisposeScope();
        var state = new System.Collections.Hashtable();
        foreach (var (name, tensor) in state_dict()) state[name] = tensor.detach().cpu().contiguous();
        foreach (var (name, tensor) in _video) state[name] = tensor.detach().cpu().contiguous();
        var wrapper = new System.Collections.Hashtable { ["model"] = state };
        AtomicFile.Write(path, stream => TorchSharp.PyBridge.PyTorchPickler.PickleStateDict(stream, wrapper, leaveOpen: true));
    }

    /// <summary>
    /// The model input of an RGB image uint8 [3, H, W] as SAM2Transforms makes it: scaled to [0, 1], resized to the square
    /// image size (bilinear, antialiased, torchvision's <c>Resize</c> on a float tensor — not the longest side), normalised
    /// by the ImageNet mean and std: [1, 3, S, S] float32 on <paramref name="device"/>.
    /// </summary>
    public torch.Tensor Preprocess(torch.Tensor rgb, torch.Device device)
    {
        using var scope = torch.NewDisposeScope();
        if (rgb.dim() != 3 || rgb.shape[0] != 3) throw new ArgumentException($"expected an RGB image [3, H, W], got shape [{string.Join(", ", rgb.shape)}]");
        using var scale = 255.0f.ToScalar();
        var x = (rgb.to(device).to(torch.ScalarType.Float32) / scale).unsqueeze(0);
        x = torch.nn.functional.interpolate(x, size: [ImageSize, ImageSize], mode: torch.InterpolationMode.Bilinear, align_corners: false, antialias: true);
        var mean = torch.tensor(PixelMean, device: device).view(1, 3, 1, 1);
        var std = torch.tensor(PixelStd, device: device).view(1, 3, 1, 1);
        return ((x - mean) / std).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The image predictor's features of model inputs [B, 3, S, S] (<c>forward_image</c>, then <c>set_image</c>'s use of it):
    /// the backbone's three levels, the stride-16 one plus <see cref="NoMemoryEmbedding"/>, the others through conv_s0 and conv_s1.
    /// </summary>
    public Sam2ImageFeatures ForwardImage(torch.Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        var levels = image_encoder.forward(input).BackboneFpn;
        return FromBackbone(levels[0], levels[1], levels[2]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The image predictor's features from the backbone's levels (stride 4, 8 and 16, [B, C, ·, ·], as <c>backbone_fpn</c>):
    /// the stride-16 level plus <see cref="NoMemoryEmbedding"/>, the others projected by the decoder's conv_s0 and conv_s1.
    /// </summary>
    public Sam2ImageFeatures FromBackbone(torch.Tensor level0, torch.Tensor level1, torch.Tensor level2)
    {
        using var scope = torch.NewDisposeScope();
        var embedding = level2 + no_mem_embed.view(1, -1, 1, 1);
        var highRes = sam_mask_decoder.ProjectHighRes(level0, level1);
        return new Sam2ImageFeatures(embedding, highRes).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var t in _video.Values) t.Dispose();
            _video.Clear();
        }
        base.Dispose(disposing);
    }
}
