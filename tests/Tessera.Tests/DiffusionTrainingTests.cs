using Tessera.Diffusion.Sampling;
using Tessera.Diffusion.Training;

namespace Tessera.Tests;

/// <summary>Diffusion denoisers (DiT), EMA, losses and the training loop: overfitting, resume, round trips, memory, bad input.</summary>
// Serial: resident memory and live tensor counts are process-wide; resume bit for bit relies on the trainer's torch.manual_seed of the global generator.
[Collection("serial")]
public sealed class DiffusionTrainingTests
{
    internal static UNetConfig TinyUNet(int classes = 0) => new(1, 16, [1, 2], 1, [], 4, 16, 32, 0, 28, classes);

    [Fact]
    public void DiT_starts_as_zero_keeps_shapes_and_sincos_table_follows_its_formula()
    {
        torch.manual_seed(0);
        foreach (var position in new[] { DiTPosition.Rope2D, DiTPosition.SinCos })
        {
            using var net = new DiT(new DiTConfig(ImageSize: 8, PatchSize: 2, Hidden: 32, Depth: 2, Heads: 2, Classes: 3, Position: position));
            var x = torch.randn(2, 1, 8, 8);
            var t = torch.tensor(new float[] { 0.1f, 2f });
            // adaLN-Zero: gates and output layer start at zero, so the network starts as the zero function.
            Assert.Equal(0, net.forward(x, t, torch.tensor(new long[] { 0, 3 })).abs().max().item<float>());
            // After perturbing every parameter it depends on x, t and the class, with gradients everywhere.
            using (torch.no_grad()) foreach (var p in net.parameters()) p.add_(torch.randn_like(p) * 0.05);
            var y = net.forward(x, t, torch.tensor(new long[] { 0, 3 }));
            Assert.Equal(x.shape, y.shape);
            Assert.True((y - net.forward(x, t, torch.tensor(new long[] { 1, 3 })))[0].abs().max().item<float>() > 1e-5);
            y.square().mean().backward();
            Assert.All(net.parameters(), p => Assert.True(p.grad is not null && torch.isfinite(p.grad).all().item<bool>()));
        }
        // Table row for grid position (x = 2, y = 1) in a width-8 table: [sin 2ω, cos 2ω, sin 1ω, cos 1ω], ω = (1, 1/100).
        var table = DiT.SinCosTable(3, 8);
        var row = table[1 * 3 + 2].data<float>().ToArray();
        double[] want = [Math.Sin(2), Math.Sin(0.02), Math.Cos(2), Math.Cos(0.02), Math.Sin(1), Math.Sin(0.01), Math.Cos(1), Math.Cos(0.01)];
        Assert.Equal(want, row.Select(v => (double)v), (a, b) => Math.Abs(a - b) < 1e-6);
    }

    [Fact]
    public void Ema_follows_the_half_life_rule()
    {
        // After h images the old average keeps weight one half: β^(h / batch) = 1/2.
        double beta = Ema.Beta(64, 10_000_000, 50_000, rampRatio: 0);
        Assert.Equal(0.5, Math.Pow(beta, 50_000 / 64.0), 12);
        // Ramp-up: early on, the half-life is 5% of the images seen.
        Assert.Equal(Math.Pow(0.5, 64 / (0.05 * 6400)), Ema.Beta(64, 6400, 50_000), 12);
        using var a = torch.nn.Linear(2, 2);
        using var b = torch.nn.Linear(2, 2);
        var before = b.weight!.clone();
        Ema.Update(b, a, 0.25);
        Assert.True(torch.allclose(b.weight!, a.weight! + (before - a.weight!) * 0.25, 1e-6, 1e-7));
    }

    [Fact]
    public void Trainer_flow_matching_loss_is_the_velocity_loss_of_the_raw_network()
    {
        torch.manual_seed(1);
        var config = new DiffusionModelConfig(NetworkKind.UNet, TinyUNet(), Formulation: Formulation.Flow);
        using var model = new DiffusionModel(config);
        using var raw = new UNet(TinyUNet());
        var g0 = new torch.Generator(11);
        using (torch.no_grad())
        {
            // Random weights everywhere (the network's zero-initialised output layer would make v_θ ≡ 0 and the test weak).
            foreach (var (name, p) in model.named_parameters()) p.copy_(torch.randn(p.shape, generator: g0) * 0.2);
            var state = model.state_dict();
            foreach (var (name, p) in raw.state_dict()) p.copy_(state["net." + name]);
        }
        model.eval();
        raw.eval();
        var trainer = new DiffusionTrainer(new DiffusionTrainOptions { Model = config, Training = DiffusionTrainOptions.DefaultTraining with { Batch = 4 } });
        var x0 = torch.rand([4, 1, 28, 28], generator: g0) * 2 - 1;
        using var _ = torch.no_grad();
        float got = trainer.Loss(model, x0, null, new torch.Generator(5)).item<float>();

        // The same draws from the same seed: z ~ N(0, 1) (float64) for the logit-normal t = sigmoid(z) of SD3 (Esser et
        // al. 2024, §3.1), then ε ~ N(0, I). Rectified flow (Liu et al. 2023; Lipman et al. 2023 eq. 22–23):
        // x_t = (1 − t)·x₀ + t·ε, u* = ε − x₀, loss = mean ‖v_θ(x_t, t) − u*‖², v_θ the raw network's output at (x_t, t).
        var g = new torch.Generator(5);
        var z = torch.randn(4, torch.ScalarType.Float64, generator: g);
        var eps = torch.randn(x0.shape, torch.ScalarType.Float32, generator: g);
        var t = (1 / (1 + (-z).exp())).to(torch.ScalarType.Float32);
        var tb = t.view(-1, 1, 1, 1);
        var xt = (1 - tb) * x0 + tb * eps;
        var v = raw.forward(xt, t, null);
        float want = (v - (eps - x0)).square().mean().item<float>();
        Assert.True(want > 0.1, $"the velocity loss {want} is too small to tell anything apart");
        Assert.Equal(want, got, want * 1e-4);
    }

    private static string[] Train(string outDir, int steps, params string[] extra) =>
        ["diffusion", "train", "--base-channels", "16", "--multipliers", "1,2", "--attention", "14", "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
         "--batch", "4", "--limit", "16", "--checkpoint-every", "2", "--sample-every", "0", "--warmup", "2", "--out", outDir, "--seed", "7", "-q", .. extra];

    [Fact]
    public void Resume_equals_uninterrupted_training_and_checkpoints_reproduce_samples()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliTests.Run(Train(dir.File("straight"), 6, "--conditional")).Code);
        Assert.Equal(0, CliTests.Run(Train(dir.File("split"), 6, "--conditional", "--stop-at", "3")).Code);
        // A checkpoint in the old metadata scheme ('format', 'diffusion.config', 'options', no tessera.* keys), written
        // before the Fourier noise-embedding option existed so that its configuration lacks those fields: it still resumes.
        string splitCkpt = Path.Combine(dir.File("split"), "checkpoint.safetensors");
        using (var f = SafeTensors.Load(splitCkpt))
        {
            var cfg = System.Text.Json.Nodes.JsonNode.Parse(f.Metadata[CheckpointMetadata.ModelKey])!.AsObject();
            Assert.True(cfg["UNet"]!.AsObject().Remove("FourierEmbedding") && cfg["UNet"]!.AsObject().Remove("FourierScale"));
            var old = new Dictionary<string, string>
            {
                ["format"] = "tessera.diffusion.training",
                ["diffusion.config"] = cfg.ToJsonString(),
                ["options"] = "{}",
                ["step"] = f.Metadata["step"],
            };
            SafeTensors.Save(splitCkpt, f.Tensors, old);
        }
        Assert.Equal(0, CliTests.Run(Train(dir.File("split"), 6, "--conditional", "--resume")).Code);
        using (var a = SafeTensors.Load(Path.Combine(dir.File("straight"), "checkpoint.safetensors")))
        using (var b = SafeTensors.Load(Path.Combine(dir.File("split"), "checkpoint.safetensors")))
        {
            Assert.Equal("6", b.Metadata["step"]);
            foreach (var (k, v) in a.Tensors) Assert.True(Same.Tensors(v, b.Tensors[k]), k);
        }
        Assert.Equal(File.ReadAllLines(Path.Combine(dir.File("straight"), "curve.csv")), File.ReadAllLines(Path.Combine(dir.File("split"), "curve.csv")));
        Assert.True(File.Exists(Path.Combine(dir.File("split"), "grid.png")) && File.Exists(Path.Combine(dir.File("split"), "loss.png")));

        // Sampling: the same seeds give the same images, bit for bit for the same batch size and thread count, and up to
        // the kernels' rounding for another batch size (docs/scale-out.md, "Determinism across splits").
        string ckpt = Path.Combine(dir.File("split"), "checkpoint.safetensors");
        string[] sample = ["diffusion", "sample", "--checkpoint", ckpt, "--steps", "3", "-n", "5", "--seed", "11", "--guidance", "2", "-q"];
        Assert.Equal(0, CliTests.Run([.. sample, "--out", dir.File("a.png"), "--out-dir", dir.File("a")]).Code);
        Assert.Equal(0, CliTests.Run([.. sample, "--batch", "2", "--out", dir.File("b.png"), "--out-dir", dir.File("b")]).Code);
        // --out-dir names each sample by its seed (11 … 15), as the --seeds mode and EDM's generate.py do.
        Assert.Equal(Enumerable.Range(11, 5).Select(s => $"{s:D6}.png"), Directory.GetFiles(dir.File("a")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(0, CliTests.Run([.. sample, "--out", dir.File("c.png"), "--out-dir", dir.File("c")]).Code);
        Assert.Equal(File.ReadAllBytes(dir.File("a.png")), File.ReadAllBytes(dir.File("c.png")));
        for (int s = 11; s < 16; s++)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir.File("a"), $"{s:D6}.png")), File.ReadAllBytes(Path.Combine(dir.File("c"), $"{s:D6}.png")));
            Same.ImagesUpToRounding(Path.Combine(dir.File("a"), $"{s:D6}.png"), Path.Combine(dir.File("b"), $"{s:D6}.png"));
        }
        // And in memory: the EMA weights reloaded sample exactly what the saved model does.
        using var model = DiffusionModel.Load(ckpt);
        model.Save(dir.File("ema.safetensors"));
        using var again = DiffusionModel.Load(dir.File("ema.safetensors"));
        var options = new DiffusionSamplingOptions { Sampler = "euler_ancestral", Steps = 4, Classes = [1, 2], Guidance = 1.5 };
        using var s1 = DiffusionSampling.Sample(model, [3, 4], options, torch.CPU);
        using var s2 = DiffusionSampling.Sample(again, [3, 4], options, torch.CPU);
        Assert.True(Same.Tensors(s1, s2));
    }

    [Fact]
    public void Dit_positions_read_as_earlier_checkpoints_wrote_them_and_as_the_command_names_them()
    {
        // Checkpoints before the command-line names were given to DiTPosition hold the C# member names.
        foreach (var (text, want) in new[] { ("Rope2D", DiTPosition.Rope2D), ("SinCos", DiTPosition.SinCos), ("rope", DiTPosition.Rope2D), ("sincos", DiTPosition.SinCos) })
        {
            var c = DiffusionModelConfig.FromJson($$$"""{"Kind":"dit","DiT":{"Position":"{{{text}}}"}}""", "test.safetensors");
            Assert.Equal(want, c.DiT!.Position);
            Assert.Equal(want, DiffusionModelConfig.FromJson(c.ToJson(), "again.safetensors").DiT!.Position);
        }
        Assert.Equal(DiTPosition.Rope2D, EnumNames.Parse<DiTPosition>("Position", "rope"));
    }

    [Fact]
    public void A_tiny_model_overfits_eight_images()
    {
        // Eight Fashion-MNIST images; the loss at fixed noise levels (σ = 0.2, 0.5, 1, 2 with fixed ε) must fall
        // below 25 % of its starting value within 400 steps.
        var options = new DiffusionTrainOptions
        {
            Model = new DiffusionModelConfig(NetworkKind.UNet, TinyUNet()),
            Training = DiffusionTrainOptions.DefaultTraining with { Steps = 400, Batch = 8, LearningRate = 2e-3, WarmupSteps = 20, CheckpointEvery = 10_000, SampleEvery = 0, Seed = 2 },
            Limit = 8,
            EmaHalfLifeKimg = 0.05,
        };
        var trainer = new DiffusionTrainer(options);
        var (images, _) = trainer.LoadData();
        torch.manual_seed(options.Training.Seed);
        using var fresh = new DiffusionModel(options.Model);
        double before = FixedLoss(fresh, images);
        using var dir = new TempDir();
        trainer.Train(dir.Path, resume: false);
        using var trained = DiffusionModel.Load(Path.Combine(dir.Path, "checkpoint.safetensors"));
        double after = FixedLoss(trained, images);
        Assert.True(after < 0.25 * before, $"loss {before:0.0000} → {after:0.0000}");
    }

    private static double FixedLoss(DiffusionModel model, torch.Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        double total = 0;
        var g = new torch.Generator(99);
        foreach (double s in new[] { 0.2, 0.5, 1.0, 2.0 })
        {
            var eps = torch.randn(images.shape, generator: g);
            var sigmas = Enumerable.Repeat(s, (int)images.shape[0]).ToArray();
            total += (model.Denoise(images + eps * s, sigmas, null) - images).square().mean().item<float>();
        }
        return total;
    }

    /// <summary>glibc's heap statistics (malloc.h, <c>struct mallinfo2</c>, glibc 2.33+).</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern MallInfo2 MallInfo();

    /// <summary>Bytes the native heap has handed out and not taken back: small blocks in use plus mmap'd large blocks
    /// (libtorch's CPU tensors live here). Unlike the resident set, it does not move with page reuse, trimming or JIT code.</summary>
    private static long NativeBytesInUse()
    {
        var m = MallInfo();
        return (long)m.Uordblks + (long)m.Hblkhd;
    }

    [Fact]
    public void Resident_memory_stays_flat_over_two_thousand_steps()
    {
        var options = new DiffusionTrainOptions
        {
            Model = new DiffusionModelConfig(NetworkKind.DiT, DiT: new DiTConfig(ImageSize: 28, PatchSize: 7, Hidden: 16, Depth: 1, Heads: 1, FrequencyChannels: 16, Position: DiTPosition.SinCos)),
            Training = DiffusionTrainOptions.DefaultTraining with { Steps = 2000, Batch = 4, CheckpointEvery = 100_000, SampleEvery = 0, Seed = 1 },
            Limit = 32,
        };
        using var dir = new TempDir();
        long at200 = 0, at2000 = 0, tensors200 = 0, tensors2000 = 0;
        bool linux = OperatingSystem.IsLinux();
        new DiffusionTrainer(options).Train(dir.Path, resume: false, new InlineProgress<TrainingProgress>(p =>
        {
            long step = p.Step;
            if (step is 200 or 2000)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                long native = linux ? NativeBytesInUse() : 0;
                if (step == 200) (at200, tensors200) = (native, torch.Tensor.TotalCount);
                else (at2000, tensors2000) = (native, torch.Tensor.TotalCount);
            }
        }));
        Assert.True(tensors2000 <= tensors200, $"live tensors {tensors200} at step 200, {tensors2000} at step 2000");
        // One leaked batch-sized tensor per step would add 1,800 × 12.5 kB = 22 MB; allow 2 MB of allocator noise.
        if (linux) Assert.True(at2000 - at200 < 2_000_000, $"native heap in use {at200 / 1e6:0.00} MB at step 200, {at2000 / 1e6:0.00} MB at step 2000");
    }

    [Fact]
    public void Bad_inputs_stop_with_a_reason()
    {
        using var dir = new TempDir();
        // Mixed sizes without --resize; an empty folder.
        Directory.CreateDirectory(dir.File("mixed"));
        ImageIO.SavePng(torch.zeros(1, 8, 8), Path.Combine(dir.File("mixed"), "a.png"));
        ImageIO.SavePng(torch.zeros(1, 9, 8), Path.Combine(dir.File("mixed"), "b.png"));
        var (code, output) = CliTests.Run("diffusion", "train", "--images", dir.File("mixed"), "--size", "8", "--net", "dit", "--hidden", "32", "--depth", "1", "--steps", "1", "--out", dir.File("r1"));
        Assert.Equal(2, code);
        Assert.Contains("expected 8x8", output);
        Directory.CreateDirectory(dir.File("empty"));
        (code, output) = CliTests.Run("diffusion", "train", "--images", dir.File("empty"), "--size", "8", "--steps", "1", "--out", dir.File("r2"));
        Assert.Equal(2, code);
        Assert.Contains("no images", output);
        // A checkpoint of another architecture: resume refuses; sample names the tensors.
        Assert.Equal(0, CliTests.Run(Train(dir.File("run"), 2)).Code);
        (code, output) = CliTests.Run(Train(dir.File("run"), 4, "--resume", "--base-channels", "32"));
        Assert.Equal(2, code);
        Assert.Contains("another network", output);
        using (var t = torch.zeros(2)) SafeTensors.Save(dir.File("other.safetensors"), [new("w", t)]);
        (code, output) = CliTests.Run("diffusion", "sample", "--checkpoint", dir.File("other.safetensors"), "--out", dir.File("x.png"));
        Assert.Equal(2, code);
        Assert.Contains("not a diffusion checkpoint", output);
        // A NaN loss stops the run, exit 1, and the last good checkpoint stays readable.
        // (A good start, then a learning rate that makes the weights explode.)
        Assert.Equal(0, CliTests.Run(Train(dir.File("nan"), 2)).Code);
        (code, output) = CliTests.Run(Train(dir.File("nan"), 50, "--lr", "1e30", "--warmup", "0", "--resume"));
        Assert.Equal(1, code);
        Assert.Contains("last good checkpoint", output);
        using var last = SafeTensors.Load(Path.Combine(dir.File("nan"), "checkpoint.safetensors"));
        Assert.InRange(int.Parse(last.Metadata["step"], System.Globalization.CultureInfo.InvariantCulture), 2, 49);
        Assert.All(last.Tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal)), kv => Assert.True(torch.isfinite(kv.Value).all().item<bool>(), kv.Key));
    }
}
