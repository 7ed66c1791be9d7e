namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>Settings of low-rank adaptation of SAM's image encoder.</summary>
/// <param name="Rank">Rank r of every adapter.</param>
/// <param name="Alpha">Scaling numerator α (the update is scaled by α / r); 0 means α = r.</param>
/// <param name="Qkv">Adapt the attention's qkv projections.</param>
/// <param name="Proj">Adapt the attention's output projections.</param>
public sealed record LoraOptions(int Rank, double Alpha = 0, bool Qkv = true, bool Proj = true)
{
    /// <summary>The factor α / r.</summary>
    public double Scale => (Alpha > 0 ? Alpha : Rank) / (double)Rank;
}

/// <summary>
/// A low-rank update of a linear layer (Hu et al. 2021, "LoRA", eq. 3): h = W₀x + (α/r)·B A x with A [r, in]
/// and B [out, r]; A starts as Kaiming-uniform (bound 1/√in, as the reference code's a = √5) and B as zeros, so
/// a new adapter leaves the layer's output unchanged.
/// </summary>
public sealed class LoraAdapter : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly Parameter lora_A, lora_B;

    /// <summary>The factor α / r.</summary>
    public double Scale { get; }

    /// <summary>A [r, in].</summary>
    public Parameter A => lora_A;

    /// <summary>B [out, r].</summary>
    public Parameter B => lora_B;

    /// <summary>Creates an adapter for a layer <paramref name="inFeatures"/> → <paramref name="outFeatures"/>.</summary>
    public LoraAdapter(int inFeatures, int outFeatures, int rank, double scale, torch.Generator generator, torch.Device device) : base(nameof(LoraAdapter))
    {
        Scale = scale;
        var a = (torch.rand([rank, inFeatures], generator: generator) * 2 - 1) / Math.Sqrt(inFeatures);
        lora_A = new Parameter(a.to(device));
        lora_B = new Parameter(torch.zeros([outFeatures, rank], device: device));
        RegisterComponents();
    }

    /// <summary>(α/r)·B A x.</summary>
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return (torch.nn.functional.linear(torch.nn.functional.linear(x, lora_A), lora_B) * Scale).MoveToOuterDisposeScope();
    }

    /// <summary>The weight update (α/r)·B A [out, in].</summary>
    public torch.Tensor Delta() => torch.matmul(lora_B, lora_A) * Scale;
}

/// <summary>
/// Low-rank adapters on the attention projections (qkv, proj) of SAM's image encoder, for parameter-efficient
/// fine-tuning: attached to a model (its weights untouched, the adapters outside its state dict), trained, saved
/// on their own as safetensors, and merged into the weights when loaded (W ← W + (α/r)·B A), so the merged model
/// is an ordinary SAM for the predictor.
/// </summary>
public sealed class SamLora : IDisposable
{
    /// <summary>The format tag in the adapter file's metadata.</summary>
    public const string Format = "tessera.sam.lora";

    private readonly SamModel _model;
    private readonly List<(string Name, VitAttention Attention, bool IsQkv, LoraAdapter Adapter)> _adapters = [];

    /// <summary>The settings.</summary>
    public LoraOptions Options { get; }

    private SamLora(SamModel model, LoraOptions options)
    {
        _model = model;
        Options = options;
    }

    // The ViT encoder's blocks; LoRA adapts ViT attention only (MobileSAM's TinyViT encoder has none of its layers).
    private static IReadOnlyList<VitBlock> VitBlocks(SamModel model) => model.ImageEncoder is ImageEncoderViT vit ? vit.Blocks
        : throw new TesseraUserException("LoRA adapters are for SAM's ViT image encoder; this model has a TinyViT (MobileSAM) encoder");

    /// <summary>Attaches fresh adapters to every encoder block of <paramref name="model"/>; A is drawn from <paramref name="generator"/>.</summary>
    /// <exception cref="TesseraUserException">A rank below 1, or adapters already attached.</exception>
    public static SamLora Attach(SamModel model, LoraOptions options, torch.Generator generator)
    {
        if (options.Rank < 1) throw new TesseraUserException($"LoRA rank {options.Rank}; at least 1 expected");
        if (!options.Qkv && !options.Proj) throw new TesseraUserException("LoRA adapts neither qkv nor proj");
        var lora = new SamLora(model, options);
        var blocks = VitBlocks(model);
        for (int i = 0; i < blocks.Count; i++)
        {
            var attn = blocks[i].Attention;
            if (attn.QkvLora is not null || attn.ProjLora is not null) throw new TesseraUserException("the model already has LoRA adapters");
            var device = attn.Qkv.weight!.device;
            if (options.Qkv)
            {
                var w = attn.Qkv.weight!;
                attn.QkvLora = new LoraAdapter((int)w.shape[1], (int)w.shape[0], options.Rank, options.Scale, generator, device);
                lora._adapters.Add(($"image_encoder.blocks.{i}.attn.qkv", attn, true, attn.QkvLora));
            }
            if (options.Proj)
            {
                var w = attn.Proj.weight!;
                attn.ProjLora = new LoraAdapter((int)w.shape[1], (int)w.shape[0], options.Rank, options.Scale, generator, device);
                lora._adapters.Add(($"image_encoder.blocks.{i}.attn.proj", attn, false, attn.ProjLora));
            }
        }
        return lora;
    }

    /// <summary>The trainable adapter parameters (A and B of every adapter).</summary>
    public IEnumerable<Parameter> Parameters() => _adapters.SelectMany(a => new[] { a.Adapter.A, a.Adapter.B });

    /// <summary>The adapter tensors by name (<c>image_encoder.blocks.i.attn.qkv.lora_A</c>, …).</summary>
    public IEnumerable<KeyValuePair<string, torch.Tensor>> Tensors() => _adapters.SelectMany(a => new[]
    {
        new KeyValuePair<string, torch.Tensor>(a.Name + ".lora_A", a.Adapter.A),
        new KeyValuePair<string, torch.Tensor>(a.Name + ".lora_B", a.Adapter.B),
    });

    /// <summary>Saves only the adapters (safetensors; rank and α in the metadata), atomically.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
        {
            ["format"] = Format,
            ["lora.rank"] = Options.Rank.ToString(CultureInfo.InvariantCulture),
            ["lora.scale"] = Options.Scale.ToString("R", CultureInfo.InvariantCulture),
        };
        var cpu = Tensors().Select(p => new KeyValuePair<string, torch.Tensor>(p.Key, p.Value.detach().cpu())).ToList();
        SafeTensors.Save(path, cpu, meta);
        foreach (var p in cpu) p.Value.Dispose();
    }

    /// <summary>Folds the adapters into the projection weights and detaches them; the model is then an ordinary SAM.</summary>
    public void Merge()
    {
        using (torch.no_grad())
            foreach (var (_, attn, isQkv, adapter) in _adapters)
            {
                using var scope = torch.NewDisposeScope();
                var layer = isQkv ? attn.Qkv : attn.Proj;
                var delta = adapter.Delta();
                layer.weight!.add_(delta.to(layer.weight.dtype));
            }
        Dispose();
    }

    /// <summary>Detaches the adapters without merging them.</summary>
    public void Dispose()
    {
        foreach (var (_, attn, isQkv, adapter) in _adapters)
        {
            if (isQkv) attn.QkvLora = null;
            else attn.ProjLora = null;
            adapter.Dispose();
        }
        _adapters.Clear();
    }

    /// <summary>Reads an adapter file and merges it into <paramref name="model"/>'s encoder weights (W ← W + (α/r)·B A).</summary>
    /// <exception cref="TesseraFormatException">Not an adapter file, or its names or shapes do not fit the model.</exception>
    public static void MergeInto(SamModel model, string path)
    {
        using var file = SafeTensors.Load(path);
        if (!file.Metadata.TryGetValue("format", out string? format) || format != Format)
            throw new TesseraFormatException(path, $"not a SAM LoRA adapter file (metadata format {format ?? "missing"}, expected {Format})");
        if (!file.Metadata.TryGetValue("lora.scale", out string? s) || !double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double scale))
            throw new TesseraFormatException(path, "no lora.scale in the metadata");
        var blocks = VitBlocks(model);
        var names = file.Tensors.Keys.Where(k => k.EndsWith(".lora_A", StringComparison.Ordinal)).Select(k => k[..^".lora_A".Length]).ToList();
        if (names.Count == 0 || file.Tensors.Count != 2 * names.Count) throw new TesseraFormatException(path, "expected pairs of .lora_A and .lora_B tensors");
        using var _ = torch.no_grad();
        foreach (string name in names)
        {
            var parts = name.Split('.');
            if (parts.Length != 5 || parts[0] != "image_encoder" || parts[1] != "blocks" || parts[3] != "attn" || parts[4] is not ("qkv" or "proj")
                || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out int block) || block >= blocks.Count)
                throw new TesseraFormatException(path, $"adapter {name} does not name an attention projection of this {blocks.Count}-block encoder");
            var layer = parts[4] == "qkv" ? blocks[block].Attention.Qkv : blocks[block].Attention.Proj;
            if (!file.Tensors.TryGetValue(name + ".lora_B", out var b)) throw new TesseraFormatException(path, $"{name}.lora_B is missing");
            var a = file.Tensors[name + ".lora_A"];
            var w = layer.weight!;
            if (a.dim() != 2 || b.dim() != 2 || a.shape[0] != b.shape[1] || b.shape[0] != w.shape[0] || a.shape[1] != w.shape[1])
                throw new TesseraFormatException(path, $"{name}: A [{string.Join(", ", a.shape)}] and B [{string.Join(", ", b.shape)}] do not fit the weight [{string.Join(", ", w.shape)}]");
            using var scope = torch.NewDisposeScope();
            var delta = torch.matmul(b.to(torch.ScalarType.Float32), a.to(torch.ScalarType.Float32)) * scale;
            w.add_(delta.to(w.dtype).to(w.device));
        }
    }
}
