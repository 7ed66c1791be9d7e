namespace Tessera.Tests;

/// <summary>The shared training engine: schedules, gradient accumulation, the finite-loss guard, stop-at and resume, the seeded scopes.</summary>
[Collection("serial")]
public sealed class TrainingEngineTests
{
    /// <summary>Least squares on fixed data with a bias-free linear model: no batch-dependent layers, no randomness.</summary>
    private sealed class LinearTask(int nanAtStep = -1) : ITrainingTask
    {
        private readonly torch.Tensor _x = torch.linspace(-1, 1, 64 * 4).reshape(64, 4).sin();
        private readonly torch.Tensor _y = torch.linspace(-2, 3, 64).cos();
        private torch.nn.Module<torch.Tensor, torch.Tensor>? _model;

        public ModelKind Kind => ModelKind.Segmentation;
        public string ModelConfigJson => "{\"linear\":4}";
        public string TaskOptionsJson => "{}";
        public string PlotTitle => "linear";
        public int Evaluations { get; private set; }

        public torch.nn.Module Build(torch.Device device, bool resume) => _model = torch.nn.Linear(4, 1, hasBias: false);

        public IEnumerable<TorchSharp.Modules.Parameter> Parameters() => _model!.parameters();

        public void Prepare(long startStep, CancellationToken cancellation)
        {
        }

        public torch.Tensor Loss(MicroBatch batch, torch.Generator generator)
        {
            if (batch.Step == nanAtStep) return torch.tensor(float.NaN).requires_grad_(true);
            var rows = torch.arange(batch.First, batch.First + batch.Count).remainder(64);
            var pred = _model!.forward(_x.index_select(0, rows)).squeeze(1);
            return (pred - _y.index_select(0, rows)).square().mean();
        }


        public EvalPoint? Evaluate()
        {
            Evaluations++;
            return new EvalPoint(0, "evaluated");
        }



        public float[] Weights() => _model!.parameters().First().data<float>().ToArray();

        public void Dispose()
        {
            _model?.Dispose();
            _x.Dispose();
            _y.Dispose();
        }
    }

    [Fact]
    public void Schedules_give_the_published_factors()
    {
        var poly = new TrainingOptions { LearningRate = 0.01, Steps = 10, Schedule = LearningRateSchedule.Poly };
        // DeepLab's poly: lr·(1 − t/T)^0.9; 0.5^0.9 = 0.535886731268146…, 0.1^0.9 = 0.125892541179416…
        Assert.Equal(0.01, poly.LearningRateAt(0), 15);
        Assert.Equal(0.01 * 0.5358867312681466, poly.LearningRateAt(5), 15);
        Assert.Equal(0.01 * 0.12589254117941673, poly.LearningRateAt(9), 15);
        // Cosine: ½(1 + cos(π t/T)) is ½ halfway and (2 + √2)/4 at a quarter.
        var cosine = poly with { Schedule = LearningRateSchedule.Cosine };
        Assert.Equal(0.005, cosine.LearningRateAt(5), 15);
        Assert.Equal(0.01 * (2 + Math.Sqrt(2)) / 4, new TrainingOptions { LearningRate = 0.01, Steps = 8, Schedule = LearningRateSchedule.Cosine }.LearningRateAt(2), 15);
        // Linear warm-up over 4 steps multiplies by (t + 1)/4, then nothing.
        var warm = new TrainingOptions { LearningRate = 0.01, Steps = 100, WarmupSteps = 4 };
        Assert.Equal(new[] { 0.0025, 0.005, 0.0075, 0.01, 0.01 }, Enumerable.Range(0, 5).Select(t => warm.LearningRateAt(t)).ToArray());
    }

    [Fact]
    public void Settings_out_of_range_name_the_property()
    {
        Assert.Contains("Steps: must be at least 1", Assert.Throws<TesseraUserException>(() => new TrainingEngine(new TrainingOptions { Steps = 0 })).Message);
        Assert.Contains("Batch: must be at least 1", Assert.Throws<TesseraUserException>(() => new TrainingEngine(new TrainingOptions { Batch = -2 })).Message);
        Assert.Contains("multiple of the micro-batches per step (Accumulate, 4)", Assert.Throws<TesseraUserException>(() => new TrainingEngine(new TrainingOptions { Batch = 6, Accumulate = 4 })).Message);
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.AdamW)]
    public void Accumulating_micro_batches_equals_one_large_batch(OptimizerKind optimizer)
    {
        // Four micro-batches of 4 examples per step give the gradient of one batch of 16 (mean of the means), so the
        // weights after 5 steps agree up to float rounding.
        float[] Train(int accumulate)
        {
            using var dir = new TempDir();
            using var task = new LinearTask();
            var o = new TrainingOptions { Steps = 5, Batch = 16, Accumulate = accumulate, LearningRate = 0.05, Optimizer = optimizer, WeightDecay = 0.01, Seed = 4 };
            new TrainingEngine(o).Run(task, dir.Path, resume: false);
            return task.Weights();
        }
        float[] whole = Train(1), split = Train(4);
        for (int i = 0; i < whole.Length; i++) Assert.Equal(whole[i], split[i], 5);
        // And the weights moved: the comparison is not between two untouched initialisations.
        using var fresh = StepRandom.Seeded(4, () => torch.nn.Linear(4, 1, hasBias: false));
        Assert.True(Math.Abs(fresh.parameters().First().data<float>()[0] - whole[0]) > 1e-3);
    }

    [Fact]
    public void A_non_finite_loss_stops_and_leaves_the_last_checkpoint_intact()
    {
        using var dir = new TempDir();
        string ckpt = Path.Combine(dir.Path, TrainingEngine.CheckpointFile);
        byte[]? atStep4 = null;
        using var task = new LinearTask(nanAtStep: 5);
        var o = new TrainingOptions { Steps = 10, Batch = 4, CheckpointEvery = 2, LearningRate = 0.01 };
        var e = Assert.Throws<InvalidOperationException>(() => new TrainingEngine(o).Run(task, dir.Path, resume: false, new InlineProgress<TrainingProgress>(p =>
        {
            if (p.Step == 4) atStep4 = File.ReadAllBytes(ckpt);
        })));
        Assert.Contains("loss is NaN at step 5", e.Message);
        Assert.Contains(ckpt, e.Message);
        Assert.Equal(atStep4, File.ReadAllBytes(ckpt));
        Assert.Equal("4", SafeTensors.ReadHeader(ckpt).Metadata["step"]);
    }

    [Fact]
    public void Stop_at_checkpoints_without_evaluating_and_resume_continues_bit_for_bit()
    {
        using var dir = new TempDir();
        var o = new TrainingOptions { Steps = 6, Batch = 4, CheckpointEvery = 100, EvalEvery = 2, LearningRate = 0.02, Optimizer = OptimizerKind.AdamW, WeightDecay = 0.1, Schedule = LearningRateSchedule.Poly, WarmupSteps = 2, Seed = 9 };
        float[] straight;
        using (var task = new LinearTask())
        {
            new TrainingEngine(o).Run(task, dir.File("a"), resume: false);
            straight = task.Weights();
        }
        using (var task = new LinearTask())
        {
            var r = new TrainingEngine(o with { StopAt = 3 }).Run(task, dir.File("b"), resume: false);
            Assert.True(r.Stopped);
            Assert.Equal(3, r.Step);
            Assert.Equal(1, task.Evaluations); // at step 2; none when stopping
            Assert.Equal("3", SafeTensors.ReadHeader(Path.Combine(dir.File("b"), TrainingEngine.CheckpointFile)).Metadata["step"]);
        }
        using (var task = new LinearTask())
        {
            var r = new TrainingEngine(o).Run(task, dir.File("b"), resume: true);
            Assert.False(r.Stopped);
            Assert.Equal(straight, task.Weights());
        }
        // The options are recorded under the shared key scheme.
        var meta = SafeTensors.ReadHeader(Path.Combine(dir.File("b"), TrainingEngine.CheckpointFile)).Metadata;
        Assert.Equal("segmentation", meta[CheckpointMetadata.KindKey]);
        Assert.Contains("\"Schedule\":\"Poly\"", meta[CheckpointMetadata.TrainingKey]);
    }

    [Fact]
    public void Cancellation_writes_a_checkpoint_then_throws()
    {
        using var dir = new TempDir();
        using var cts = new CancellationTokenSource();
        using var task = new LinearTask();
        var o = new TrainingOptions { Steps = 50, Batch = 4, CheckpointEvery = 100 };
        Assert.Throws<OperationCanceledException>(() => new TrainingEngine(o).Run(task, dir.Path, resume: false, new InlineProgress<TrainingProgress>(p =>
        {
            if (p.Step == 7) cts.Cancel();
        }), cts.Token));
        Assert.Equal("7", SafeTensors.ReadHeader(Path.Combine(dir.Path, TrainingEngine.CheckpointFile)).Metadata["step"]);
    }

    [Fact]
    public void A_resume_with_another_model_configuration_names_the_file()
    {
        using var dir = new TempDir();
        var o = new TrainingOptions { Steps = 2, Batch = 4 };
        using (var task = new LinearTask()) new TrainingEngine(o).Run(task, dir.Path, resume: false);
        string ckpt = Path.Combine(dir.Path, TrainingEngine.CheckpointFile);
        using (var f = SafeTensors.Load(ckpt))
            SafeTensors.Save(ckpt, f.Tensors, new Dictionary<string, string>(f.Metadata) { [CheckpointMetadata.ModelKey] = "{\"linear\":5}" });
        using var again = new LinearTask();
        var e = Assert.Throws<TesseraFormatException>(() => new TrainingEngine(o with { Steps = 4 }).Run(again, dir.Path, resume: true));
        Assert.Contains(ckpt, e.Message);
        Assert.Contains("another network or configuration of the segmentation model", e.Message);
    }

    [Fact]
    public void The_seeded_scope_restores_the_global_generator()
    {
        using var before = torch.random.get_rng_state();
        using var a = StepRandom.Seeded(3, () => torch.rand(5));
        using var b = StepRandom.Seeded(3, () => torch.rand(5));
        using var after = torch.random.get_rng_state();
        Assert.True(Same.Tensors(a, b));
        Assert.True(Same.Tensors(before, after));
        // The scope seeds as a fresh generator with that seed would.
        using var g = new torch.Generator(3);
        using var c = torch.rand(5, generator: g);
        Assert.True(Same.Tensors(a, c));
    }
}
