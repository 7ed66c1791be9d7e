using Tessera.Segmentation.Sam.Data;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam.Training;

/// <summary>Which parts of SAM a fine-tune updates.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SamTrainedPart>))]
public enum SamTrainedPart
{
    /// <summary>The prompt encoder only.</summary>
    Prompt,
    /// <summary>The prompt encoder and the mask decoder (the common fine-tune).</summary>
    Decoder,
    /// <summary>The whole model, image encoder included (unless it is frozen).</summary>
    All,
}

/// <summary>Settings of fine-tuning a SAM checkpoint on an instance dataset (COCO, labelme, folder).</summary>
public sealed record SamDatasetTrainOptions
{
    /// <summary>
    /// The engine settings of a fine-tune when none are given: SAM's recipe of <see cref="SamTrainOptions.DefaultTraining"/>
    /// (AdamW with weight decay 0.1, cosine decay, gradient clipping at 1, a checkpoint every 250 steps) over 1,000 steps
    /// of 4 images at 10⁻⁵ with 50 warm-up steps, and no periodic evaluation.
    /// </summary>
    public static TrainingOptions DefaultTraining { get; } = SamTrainOptions.DefaultTraining with
    {
        Steps = 1000,
        Batch = 4,
        LearningRate = 1e-5,
        WarmupSteps = 50,
        EvalEvery = 0,
    };

    /// <summary>The SAM checkpoint to start from (official .pth or Tessera .safetensors).</summary>
    public required string Init { get; init; }
    /// <summary>The annotation format.</summary>
    public InstanceDatasetFormat Format { get; init; } = InstanceDatasetFormat.Coco;
    /// <summary>The dataset's root folder (required unless the trainer is given a dataset object).</summary>
    public string Root { get; init; } = "";
    /// <summary>COCO's split (ignored by the other formats).</summary>
    public string Split { get; init; } = "train2017";
    /// <summary>Keep the image encoder's weights fixed (its embeddings may then be cached).</summary>
    public bool FreezeEncoder { get; init; }
    /// <summary>Folder of cached image embeddings (needs a frozen encoder without adapters), or null.</summary>
    public string? EmbeddingCache { get; init; }
    /// <summary>Storage precision of cached embeddings.</summary>
    public EmbeddingPrecision CachePrecision { get; init; } = EmbeddingPrecision.Float32;
    /// <summary>Which parts are trained.</summary>
    public SamTrainedPart Train { get; init; } = SamTrainedPart.Decoder;
    /// <summary>Rank of low-rank adapters on the encoder's attention projections; 0: none.</summary>
    public int LoraRank { get; init; }
    /// <summary>Optimiser, schedule, length, cadences and seed.</summary>
    public TrainingOptions Training { get; init; } = DefaultTraining;
    /// <summary>Prompting rounds per object and step: the first prompt, then clicks sampled from the error region.</summary>
    public int Rounds { get; init; } = 4;
    /// <summary>Smallest object (pixels) used as a training target.</summary>
    public int MinObjectArea { get; init; } = 16;

    /// <summary>Whether the image encoder's forward pass needs gradients (trained weights or adapters).</summary>
    [JsonIgnore] public bool EncoderNeedsGrad => LoraRank > 0 || (Train == SamTrainedPart.All && !FreezeEncoder);

    /// <summary>Checks the combination of settings.</summary>
    /// <exception cref="TesseraUserException">A setting contradicts another.</exception>
    public void Validate()
    {
        if (LoraRank < 0) throw new TesseraUserException(nameof(LoraRank), $"{LoraRank} is negative");
        if (Rounds < 1) throw new TesseraUserException(nameof(Rounds), $"{Rounds} must be at least 1");
        if (EmbeddingCache is not null && !FreezeEncoder)
            throw new TesseraUserException(nameof(EmbeddingCache), "caching embeddings needs a frozen image encoder");
        if (EmbeddingCache is not null && LoraRank > 0)
            throw new TesseraUserException(nameof(EmbeddingCache), "adapters change the encoder's output, so its embeddings cannot be cached");
        if (FreezeEncoder && Train == SamTrainedPart.All && LoraRank == 0)
            throw new TesseraUserException(nameof(Train), "'all' trains the image encoder, which is frozen");
    }
}

/// <summary>
/// Fine-tunes a SAM checkpoint on an annotated instance dataset through the <see cref="TrainingEngine"/>, with
/// the interactive recipe of <see cref="SamTrainer"/> (Kirillov et al. 2023, App. A): per example one object of
/// one image, first prompted by a point or a noisy box, then by clicks sampled from the error region with the
/// previous mask's logits fed back. Crowd regions are never prompted and are left out of the loss. Images are
/// resized and padded by <see cref="SamPredictor.ModelInput"/>, so the result serves <c>sam segment</c> as it is.
/// Example k of the run is image <c>perm_e[k mod N]</c> of epoch e = k div N, a permutation drawn from the seed, and its
/// prompts are drawn from (seed, step, k): on several ranks each takes its micro-batches of the step, and together they are
/// exactly the batch of one process.
/// </summary>
public sealed class SamDatasetTrainer
{
    private readonly SamDatasetTrainOptions _o;
    private readonly TrainingEngine _engine;
    private readonly InstanceDataset? _dataset;
    private readonly Func<string, torch.Device, IFineTunedSam> _load;

    /// <summary>The embedding cache of the last run (for its hit and miss counts), or null.</summary>
    public SamEmbeddingCache? Cache { get; private set; }

    /// <summary>Creates a trainer on the dataset at <see cref="SamDatasetTrainOptions.Root"/> (opened when training starts); with a <paramref name="communicator"/> of several ranks it trains data-parallel (<see cref="TrainingEngine"/>).</summary>
    /// <exception cref="TesseraUserException">The options contradict each other, no root folder is given, or the batch does not split over the ranks.</exception>
    public SamDatasetTrainer(SamDatasetTrainOptions options, torch.Device? device = null, Tessera.Training.Distributed.ICommunicator? communicator = null)
        : this(options, LoadSam, device, communicator)
    {
    }

    /// <summary>A trainer of the model family <paramref name="load"/> reads from <see cref="SamDatasetTrainOptions.Init"/>.</summary>
    internal SamDatasetTrainer(SamDatasetTrainOptions options, Func<string, torch.Device, IFineTunedSam> load, torch.Device? device = null, Tessera.Training.Distributed.ICommunicator? communicator = null)
    {
        options.Validate();
        _load = load;
        if (string.IsNullOrEmpty(options.Root)) throw new TesseraUserException(nameof(options.Root), "required: the dataset's folder (or give the trainer a dataset object)");
        _o = options;
        _engine = new TrainingEngine(options.Training, device, communicator);
    }

    /// <summary>
    /// Creates a trainer on a dataset the caller supplies (any <see cref="InstanceDataset"/>, such as a user's own
    /// subclass); <see cref="SamDatasetTrainOptions.Format"/>, <see cref="SamDatasetTrainOptions.Root"/> and
    /// <see cref="SamDatasetTrainOptions.Split"/> are not read. Its images are read as training needs them.
    /// </summary>
    /// <exception cref="TesseraUserException">The options contradict each other, or the dataset has no images.</exception>
    public SamDatasetTrainer(InstanceDataset dataset, SamDatasetTrainOptions options, torch.Device? device = null, Tessera.Training.Distributed.ICommunicator? communicator = null)
        : this(dataset, options, LoadSam, device, communicator)
    {
    }

    /// <summary>A trainer on a dataset the caller supplies, of the model family <paramref name="load"/> reads.</summary>
    internal SamDatasetTrainer(InstanceDataset dataset, SamDatasetTrainOptions options, Func<string, torch.Device, IFineTunedSam> load, torch.Device? device = null, Tessera.Training.Distributed.ICommunicator? communicator = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        _load = load;
        options.Validate();
        if (dataset.Count == 0) throw new TesseraUserException(nameof(dataset), $"{dataset.Source}: no images");
        (_o, _dataset) = (options, dataset);
        _engine = new TrainingEngine(options.Training, device, communicator);
    }

    /// <summary>
    /// Trains into <paramref name="runDir"/>: checkpoint.safetensors (resumable), model.safetensors (for
    /// sam segment/auto/eval) and, with adapters, lora.safetensors beside it (given to those commands to merge).
    /// </summary>
    public TrainingResult Train(string runDir, bool resume, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (resume && _o.LoraRank > 0) throw new TesseraUserException(nameof(SamDatasetTrainOptions.LoraRank), "a run with adapters cannot be resumed (they are saved apart from the checkpoint); start it again");
        using var task = new FineTuneTask(_o, _engine.Device, _dataset, _load);
        var result = _engine.Run(task, runDir, resume, progress, cancellation);
        Cache = task.Cache;
        return result;
    }

    /// <summary>
    /// One prompting round of the recipe for one object: prompts (original-image pixels, labels as
    /// <see cref="PromptEncoder.EmbedLabeled"/> reads them) and the previous round's low-resolution logits [1, 1, h, w] (or
    /// null) through the model's prompt encoder and decoder, the masks upscaled to the image <paramref name="size"/> and
    /// restricted to the pixels <paramref name="kept"/>, and <see cref="SamLosses.Round"/> against <paramref name="truth"/>
    /// [1, P]. Returns the loss, the lowest-loss mask, the low-resolution logits [1, M, h, w] and the kept logits [M, P].
    /// </summary>
    internal static (torch.Tensor Loss, int Best, torch.Tensor LowRes, torch.Tensor Full) RoundLoss(IFineTunedSam model, IReadOnlyDictionary<string, torch.Tensor> features,
        IReadOnlyList<double[]> coords, IReadOnlyList<int> labels, torch.Tensor? previous, bool multimask, torch.Tensor truth, torch.Tensor kept, (int H, int W) size)
    {
        var device = truth.device;
        int n = coords.Count;
        var framed = coords.SelectMany(c =>
        {
            var (x, y) = model.ToModelFrame(c[0], c[1], size);
            return new[] { (float)x, (float)y };
        }).ToArray();
        var c = torch.tensor(framed, [1, n, 2], device: device);
        var lab = torch.tensor(labels.Select(v => (long)v).ToArray(), [1, n], device: device);
        var sparse = model.PromptEncoder.EmbedLabeled(c, lab);
        var dense = model.PromptEncoder.EmbedDense(previous, 1);
        var pred = model.Decode(features, sparse, dense, multimask);
        var lowRes = pred.LowRes; // [1, m, h', w']
        int m = (int)lowRes.shape[1];
        var full = model.Upscale(lowRes, size).reshape(m, size.H * size.W).index_select(1, kept);
        var (loss, best) = SamLosses.Round(full, truth, pred.Iou[0], pred.ObjectScore?[0]);
        return (loss, best, lowRes, full);
    }

    // SAM and MobileSAM checkpoints (official .pth or Tessera .safetensors).
    private static IFineTunedSam LoadSam(string path, torch.Device device) => new SamFineTunedModel(SamModel.Load(path, device));

    /// <summary>The task of the engine.</summary>
    private sealed class FineTuneTask(SamDatasetTrainOptions o, torch.Device device, InstanceDataset? dataset, Func<string, torch.Device, IFineTunedSam> load) : ITrainingTask
    {
        private IFineTunedSam? _model;
        private SamLora? _lora;
        private InstanceDataset? _data;
        private readonly Dictionary<long, long[]> _epochs = [];

        public SamEmbeddingCache? Cache { get; private set; }
        public ModelKind Kind => ModelKind.Sam;
        public string ModelConfigJson => _model is null ? throw new InvalidOperationException("the model is built first") : _model.ConfigJson;
        public string TaskOptionsJson => JsonSerializer.Serialize(o);
        public string PlotTitle => $"SAM fine-tuned on {(dataset is null ? Path.GetFileName(Path.GetFullPath(o.Root)) : dataset.Source)}";

        public string CanonicalConfig(string json, string path) => _model!.CanonicalConfig(json, path);

        public torch.nn.Module Build(torch.Device device, bool resume)
        {
            _model = load(o.Init, device);
            foreach (var p in _model.Module.parameters()) p.requires_grad = false;
            foreach (var p in Trained(_model)) p.requires_grad = true;
            if (o.LoraRank > 0)
            {
                if (_model is not SamFineTunedModel sam)
                    throw new TesseraUserException(nameof(SamDatasetTrainOptions.LoraRank), "adapters are for SAM and MobileSAM image encoders; train this model without them");
                using var generator = new torch.Generator((ulong)o.Training.Seed);
                _lora = SamLora.Attach(sam.Model, new LoraOptions(o.LoraRank), generator);
            }
            return _model.Module;
        }

        private IEnumerable<TorchSharp.Modules.Parameter> Trained(IFineTunedSam model) => o.Train switch
        {
            SamTrainedPart.Prompt => model.PromptEncoder.parameters(),
            SamTrainedPart.Decoder => model.PromptEncoder.parameters().Concat(model.MaskDecoder.parameters()),
            _ => o.FreezeEncoder || o.LoraRank > 0 ? model.PromptEncoder.parameters().Concat(model.MaskDecoder.parameters()) : model.Module.parameters(),
        };

        public IEnumerable<TorchSharp.Modules.Parameter> Parameters() =>
            _lora is null ? Trained(_model!) : Trained(_model!).Concat(_lora.Parameters());

        public void Prepare(long startStep, CancellationToken cancellation)
        {
            _data = dataset ?? InstanceDataset.Open(o.Format, o.Root, o.Split);
            if (_data.Count == 0) throw new TesseraUserException(nameof(SamDatasetTrainOptions.Root), $"{_data.Source}: no images");
            if (o.EmbeddingCache is not null)
                Cache = new SamEmbeddingCache(o.EmbeddingCache, _model!.CacheKey(), o.CachePrecision);
        }

        /// <summary>The image of example <paramref name="k"/> of the run: a seeded permutation per epoch.</summary>
        private InstanceImage ImageOf(long k)
        {
            long n = _data!.Count, epoch = k / n;
            if (!_epochs.TryGetValue(epoch, out var perm))
            {
                perm = new SplitMix64((ulong)o.Training.Seed * 0x9E3779B97F4A7C15UL ^ (ulong)epoch).Permutation(n);
                _epochs[epoch] = perm;
            }
            return _data[(int)perm[k % n]];
        }

        public torch.Tensor Loss(MicroBatch batch, torch.Generator generator)
        {
            var total = torch.zeros(1, device: device).sum();
            for (int j = 0; j < batch.Count; j++)
            {
                long k = batch.First + j;
                // Prompt sampling runs on the host: a SplitMix64 of (seed, step, example), whichever micro-batch or rank takes it.
                var rng = new SplitMix64(StepRandom.Mix(StepRandom.SeedOf(o.Training.Seed, batch.Step) ^ (ulong)(k + 1) * 0x9E3779B97F4A7C15UL));
                total = total + ExampleLoss(ImageOf(k), ref rng);
            }
            return total / (double)batch.Count;
        }

        /// <summary>The image features of the model family, by name, on the device.</summary>
        private IReadOnlyDictionary<string, torch.Tensor> Embed(InstanceImage image)
        {
            var model = _model!;
            IReadOnlyDictionary<string, torch.Tensor> Encode()
            {
                using var rgb = image.LoadRgb();
                return model.Encode(rgb);
            }
            if (o.EncoderNeedsGrad) return Encode();
            // An encoder that is not trained runs in evaluation mode (the engine sets training mode each step): MobileSAM's
            // TinyViT batch norms then use, and keep, their running statistics, and cached embeddings stay exact.
            model.ImageEncoder.eval();
            using var noGrad = torch.no_grad();
            if (Cache is null) return Encode();
            var cached = Cache.GetOrComputeAll(SamEmbeddingCache.ImageKey(image.ImagePath), model.CacheVariant, model.FeatureNames, Encode);
            return cached.ToDictionary(kv => kv.Key, kv =>
            {
                using (kv.Value) return kv.Value.to(device, copy: true);
            }, StringComparer.Ordinal);
        }

        private torch.Tensor ExampleLoss(InstanceImage image, ref SplitMix64 rng)
        {
            var model = _model!;
            var objects = image.Prompts(o.MinObjectArea).ToList();
            if (objects.Count == 0) return torch.zeros(1, device: device).sum();
            var chosen = objects[(int)rng.NextBelow((ulong)objects.Count)];
            int h = image.Height, w = image.Width;
            var mask = chosen.Mask.Decode();
            var ignore = image.IgnoreMask();
            // Pixels in the loss: all but crowd regions (an object's own pixels always count).
            var kept = Enumerable.Range(0, h * w).Where(p => ignore is null || !ignore[p] || mask[p]).Select(p => (long)p).ToArray();
            var keptIndex = torch.tensor(kept, device: device);
            var truth = torch.tensor(mask, device: device).to(torch.ScalarType.Float32).index_select(0, keptIndex).unsqueeze(0);
            var features = Embed(image);

            // First prompt: a uniform foreground point (plus padding) or a noisy box (two corners), in image pixels.
            var coords = new List<double[]>();
            var labels = new List<int>();
            if (rng.NextBelow(2) == 0)
            {
                var fg = Enumerable.Range(0, mask.Length).Where(p => mask[p]).ToArray();
                int p = fg[(int)rng.NextBelow((ulong)fg.Length)];
                coords.Add([p % w, p / w]);
                labels.Add(1);
                coords.Add([0, 0]);
                labels.Add(-1);
            }
            else
            {
                var box = SmallRegions.Box(mask, h, w);
                var r = rng;
                double U() => (r.Next() >> 11) * (1.0 / (1UL << 53));
                double Gauss() => Math.Sqrt(-2 * Math.Log(1 - U())) * Math.Cos(2 * Math.PI * U());
                double sx = Math.Min(0.1 * (box[2] - box[0] + 1), 20), sy = Math.Min(0.1 * (box[3] - box[1] + 1), 20);
                coords.Add([Math.Clamp(box[0] + sx * Gauss(), 0, w - 1), Math.Clamp(box[1] + sy * Gauss(), 0, h - 1)]);
                labels.Add(2);
                coords.Add([Math.Clamp(box[2] + sx * Gauss(), 0, w - 1), Math.Clamp(box[3] + sy * Gauss(), 0, h - 1)]);
                labels.Add(3);
                rng = r;
            }
            torch.Tensor? previous = null;
            var total = torch.zeros(1, device: device).sum();
            for (int round = 0; round < o.Rounds; round++)
            {
                var (loss, pick0, lowRes, full) = RoundLoss(model, features, coords, labels, previous, round == 0, truth, keptIndex, (h, w));
                total = total + loss;
                previous = lowRes[.., pick0..(pick0 + 1)].detach();
                if (round + 1 == o.Rounds) break;
                var predicted = (full[pick0] > 0).cpu().contiguous().data<bool>().ToArray();
                // An error pixel of the chosen mask (crowd regions excluded), or a foreground pixel when there is none.
                var errors = Enumerable.Range(0, kept.Length).Where(i => mask[kept[i]] != predicted[i]).ToArray();
                int pick;
                if (errors.Length == 0)
                {
                    var fg = Enumerable.Range(0, mask.Length).Where(p => mask[p]).ToArray();
                    pick = fg[(int)rng.NextBelow((ulong)fg.Length)];
                }
                else pick = (int)kept[errors[(int)rng.NextBelow((ulong)errors.Length)]];
                // Clicks go before the padding point or the box corners, as the official prompt order has them.
                int at = labels.FindIndex(v => v is -1 or 2);
                coords.Insert(at, [pick % w, pick / w]);
                labels.Insert(at, mask[pick] ? 1 : 0);
            }
            return total / (double)o.Rounds;
        }

        public void AfterCheckpoint(string runDir, long step)
        {
            var meta = new Dictionary<string, string> { ["step"] = step.ToString(CultureInfo.InvariantCulture) };
            _model!.Save(runDir, meta);
            _lora?.Save(Path.Combine(runDir, "lora.safetensors"), meta);
        }

        public void Dispose()
        {
            _lora?.Dispose();
            _model?.Dispose();
        }
    }
}
