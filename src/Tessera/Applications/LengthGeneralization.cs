using Tessera.Attention;
using Tessera.Layers;
using Tessera.Positional;

namespace Tessera.Applications;

/// <summary>Settings of the length-generalisation benchmark.</summary>
/// <param name="TrainLength">Longest copied string in training (L); training lengths are uniform in 1 … L.</param>
/// <param name="Steps">Optimiser steps per encoding.</param>
/// <param name="Batch">Sequences per step.</param>
/// <param name="ModelDim">Model width.</param>
/// <param name="Heads">Attention heads.</param>
/// <param name="Layers">Transformer blocks.</param>
/// <param name="LearningRate">AdamW learning rate.</param>
/// <param name="EvalSequences">Test sequences per length.</param>
/// <param name="Seed">Seed of data and initialisation.</param>
public sealed record LengthBenchOptions(int TrainLength = 16, int Steps = 1200, int Batch = 64, int ModelDim = 64, int Heads = 4, int Layers = 2,
    double LearningRate = 2e-3, int EvalSequences = 256, long Seed = 0);

/// <summary>The position encodings the length-generalisation benchmark compares, in table order.</summary>
public enum BenchEncoding
{
    /// <summary>No position information (causal masking only).</summary>
    None,

    /// <summary>The fixed sinusoidal table added to the token embeddings.</summary>
    Sinusoidal,

    /// <summary>A learned absolute table.</summary>
    Learned,

    /// <summary>T5's bucketed relative bias.</summary>
    T5,

    /// <summary>ALiBi's linear biases.</summary>
    Alibi,

    /// <summary>Plain RoPE.</summary>
    Rope,

    /// <summary>RoPE with position interpolation at test lengths beyond training.</summary>
    RopeInterpolation,

    /// <summary>RoPE with NTK-aware scaling at test lengths beyond training.</summary>
    RopeNtk,

    /// <summary>RoPE with YaRN scaling at test lengths beyond training.</summary>
    RopeYarn,
}

/// <summary>Accuracy of one encoding at each test length.</summary>
/// <param name="Encoding">Encoding name (<see cref="LengthGeneralization.Name"/>).</param>
/// <param name="TokenAccuracy">Per-token accuracy of the copy at 1×, 2×, 4× L.</param>
/// <param name="SequenceAccuracy">Whole-copy accuracy at 1×, 2×, 4× L.</param>
/// <param name="FinalLoss">Training loss at the end.</param>
/// <param name="Seconds">Wall time of training and testing.</param>
public sealed record LengthBenchRow(string Encoding, double[] TokenAccuracy, double[] SequenceAccuracy, double FinalLoss, double Seconds);

/// <summary>
/// Why position encodings matter: a small causal Transformer learns to copy a string of digits
/// (x₁ … xₙ SEP x₁ … xₙ, loss on the copy) with n ≤ L, then is tested at n = L, 2L and 4L. Scaled RoPE variants
/// (interpolation, NTK, YaRN) are trained as plain RoPE and scaled at test time by the length ratio, the
/// training-free extension they were designed for.
/// </summary>
public static class LengthGeneralization
{
    /// <summary>The encodings compared, in table order.</summary>
    public static readonly BenchEncoding[] Encodings = Enum.GetValues<BenchEncoding>();

    /// <summary>The encoding's name in tables and JSON: none, sinusoidal, learned, t5, alibi, rope, rope-interpolation, rope-ntk, rope-yarn.</summary>
    public static string Name(BenchEncoding encoding) => encoding switch
    {
        BenchEncoding.RopeInterpolation => "rope-interpolation",
        BenchEncoding.RopeNtk => "rope-ntk",
        BenchEncoding.RopeYarn => "rope-yarn",
        _ => encoding.ToString().ToLowerInvariant(),
    };

    /// <summary>The encoding named <paramref name="name"/> (as <see cref="Name"/> writes it), if there is one.</summary>
    public static bool TryParse(string name, out BenchEncoding encoding)
    {
        foreach (BenchEncoding e in Encodings)
            if (Name(e) == name) { encoding = e; return true; }
        encoding = default;
        return false;
    }

    /// <summary>Test multiples of L.</summary>
    public static readonly int[] Multiples = [1, 2, 4];

    private const int Sep = 10, Vocab = 11;

    /// <summary>Trains and tests one encoding; <paramref name="progress"/> gets the step and loss every 50 steps and at the end.</summary>
    public static LengthBenchRow Run(BenchEncoding encoding, LengthBenchOptions o, IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (!Enum.IsDefined(encoding)) throw new TesseraUserException(nameof(encoding), "not a BenchEncoding");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var gen = new torch.Generator((ulong)o.Seed + 17);
        int maxTokens = 2 * o.TrainLength * Multiples[^1] + 1;
        // Initialisation draws from the global generator, seeded only while the model is built.
        using var model = Tessera.Training.StepRandom.Seeded(o.Seed, () => new CopyTransformer(encoding, o, maxTokens));
        using var opt = torch.optim.AdamW(model.parameters(), o.LearningRate, weight_decay: 0.01);
        double loss = double.NaN;
        model.train();
        for (int step = 0; step < o.Steps; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            int n = (int)torch.randint(1, o.TrainLength + 1, [1], generator: gen).item<long>();
            var (input, target) = Batch(o.Batch, n, gen);
            // Warm-up then cosine decay.
            double lr = o.LearningRate * Math.Min(1, (step + 1) / 100.0) * 0.5 * (1 + Math.Cos(Math.PI * step / o.Steps));
            foreach (var g in opt.ParamGroups) g.LearningRate = lr;
            opt.zero_grad();
            var logits = model.forward(input, n, o.TrainLength)[.., n.., ..];           // predictions made at SEP and the copy
            var l = torch.nn.functional.cross_entropy(logits.reshape(-1, Vocab), target.reshape(-1));
            l.backward();
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0);
            opt.step();
            if (step % 50 == 0 || step == o.Steps - 1) { loss = l.item<float>(); progress?.Report(new TrainingProgress(step + 1, loss, null)); }
        }
        model.eval();
        var tokenAcc = new double[Multiples.Length];
        var seqAcc = new double[Multiples.Length];
        using (torch.no_grad())
        {
            for (int m = 0; m < Multiples.Length; m++)
            {
                using var scope = torch.NewDisposeScope();
                int n = o.TrainLength * Multiples[m];
                var (input, target) = Batch(o.EvalSequences, n, new torch.Generator((ulong)o.Seed + 1000 + (ulong)m));
                var predicted = model.forward(input, n, o.TrainLength)[.., n.., ..].argmax(-1);
                var correct = predicted.eq(target);
                tokenAcc[m] = correct.to(torch.ScalarType.Float64).mean().item<double>();
                seqAcc[m] = correct.all(1).to(torch.ScalarType.Float64).mean().item<double>();
            }
        }
        return new LengthBenchRow(Name(encoding), tokenAcc, seqAcc, loss, watch.Elapsed.TotalSeconds);
    }

    /// <summary>Inputs x₁ … xₙ SEP x₁ … x_{n−1} [B, 2n] and targets x₁ … xₙ [B, n] (predicted from SEP onward).</summary>
    public static (torch.Tensor Input, torch.Tensor Target) Batch(int batch, int n, torch.Generator gen)
    {
        var digits = torch.randint(0, 10, [batch, n], generator: gen);
        var sep = torch.full([batch, 1], Sep, torch.ScalarType.Int64);
        var input = torch.cat([digits, sep, digits[.., ..(n - 1)]], 1);
        return (input, digits);
    }

    /// <summary>The small causal Transformer of the benchmark (pre-LN blocks, GELU MLP).</summary>
    private sealed class CopyTransformer : torch.nn.Module<torch.Tensor, torch.Tensor>
    {
        private readonly Embedding tokens;
        private readonly LearnedPositionalEmbedding? learned;
        private readonly ModuleList<Block> blocks;
        private readonly LayerNorm norm;
        private readonly Linear head;
        private readonly BenchEncoding _encoding;
        private readonly int _dim;
        private readonly LengthBenchOptions _o;

        public CopyTransformer(BenchEncoding encoding, LengthBenchOptions o, int maxTokens) : base("CopyTransformer")
        {
            (_encoding, _dim, _o) = (encoding, o.ModelDim, o);
            tokens = torch.nn.Embedding(Vocab, o.ModelDim);
            if (encoding == BenchEncoding.Learned) learned = new LearnedPositionalEmbedding(maxTokens, o.ModelDim);
            var list = new List<Block>();
            for (int i = 0; i < o.Layers; i++)
            {
                AttentionPosition? pos = encoding switch
                {
                    BenchEncoding.T5 => new T5Position(o.Heads, bidirectional: false, 32, 128),
                    BenchEncoding.Alibi => new AlibiPosition(symmetric: false),
                    BenchEncoding.Rope or BenchEncoding.RopeInterpolation or BenchEncoding.RopeNtk or BenchEncoding.RopeYarn => new RotaryPosition(new RopeConfig { HeadDim = o.ModelDim / o.Heads }),
                    _ => null,
                };
                list.Add(new Block(o.ModelDim, o.Heads, pos));
            }
            blocks = new ModuleList<Block>(list.ToArray());
            norm = torch.nn.LayerNorm(o.ModelDim);
            head = torch.nn.Linear(o.ModelDim, Vocab);
            RegisterComponents();
        }

        /// <summary>Logits [B, T, V]; for test lengths n > L, the scaled RoPE variants use factor n/L.</summary>
        public torch.Tensor forward(torch.Tensor input, int n, int trainLength)
        {
            var x = tokens.forward(input);
            if (_encoding == BenchEncoding.Sinusoidal) x = x + Sinusoidal.Table(input.shape[1], _dim, dtype: x.dtype);
            if (learned is not null) x = learned.forward(x);
            double factor = Math.Max(1, (double)n / trainLength);
            RopeConfig? scaled = factor <= 1 ? null : _encoding switch
            {
                BenchEncoding.RopeInterpolation => new RopeConfig { HeadDim = _dim / _o.Heads, RopeType = RopeType.Linear, Factor = factor },
                BenchEncoding.RopeNtk => new RopeConfig { HeadDim = _dim / _o.Heads, RopeType = RopeType.Ntk, Factor = factor },
                BenchEncoding.RopeYarn => new RopeConfig { HeadDim = _dim / _o.Heads, RopeType = RopeType.Yarn, Factor = factor, OriginalMaxPositionEmbeddings = 2 * trainLength + 1 },
                _ => null,
            };
            foreach (var block in blocks) x = block.forward(x, scaled);
            return head.forward(norm.forward(x));
        }

        public override torch.Tensor forward(torch.Tensor input) => forward(input, (int)(input.shape[1] / 2), _o.TrainLength);
    }

    private sealed class Block : torch.nn.Module<torch.Tensor, torch.Tensor>
    {
        private readonly LayerNorm ln1;
        private readonly LayerNorm ln2;
        private readonly MultiHeadAttention attn;
        private readonly Mlp mlp;
        public Block(int dim, int heads, AttentionPosition? position) : base("Block")
        {
            ln1 = torch.nn.LayerNorm(dim);
            ln2 = torch.nn.LayerNorm(dim);
            attn = new MultiHeadAttention(dim, heads, causal: true, position);
            mlp = new Mlp(dim, 4 * dim);
            RegisterComponents();
        }

        public torch.Tensor forward(torch.Tensor x, RopeConfig? scaled)
        {
            using var _ = scaled is null ? null : (attn.Position as RotaryPosition)?.WithConfig(scaled);
            x = x + attn.forward(ln1.forward(x));
            return x + mlp.forward(ln2.forward(x));
        }

        public override torch.Tensor forward(torch.Tensor x) => forward(x, null);
    }
}
