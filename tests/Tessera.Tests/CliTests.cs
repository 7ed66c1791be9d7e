using Spectre.Console;
using Tessera.Cli;

namespace Tessera.Tests;

/// <summary>
/// Tests that change process-wide state (libtorch's default device, the oneDNN switch, the GC's no-GC region, the
/// global generator that bit-for-bit comparisons through trainers rely on) join this collection and run alone.
/// </summary>
[CollectionDefinition("serial", DisableParallelization = true)]
public class CliCollection;

public class CliTests
{
    internal static (int Code, string Output) Run(params string[] args)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 200;
        int code = Program.Run(args, console);
        return (code, writer.ToString());
    }

    /// <summary>
    /// A training verb run twice into <paramref name="dir"/>: "straight" for <paramref name="steps"/> steps, and "split"
    /// stopped at <paramref name="stopAt"/> then resumed; both exit 0 and end with the same model weights (bit for bit).
    /// <paramref name="train"/> gives the arguments for a run folder, the steps and extra flags.
    /// </summary>
    internal static void AssertResumeEqualsStraight(TempDir dir, Func<string, int, string[], string[]> train, int steps, int stopAt)
    {
        Assert.Equal(0, Run(train(dir.File("straight"), steps, [])).Code);
        Assert.Equal(0, Run(train(dir.File("split"), steps, ["--stop-at", stopAt.ToString(System.Globalization.CultureInfo.InvariantCulture)])).Code);
        Assert.Equal(0, Run(train(dir.File("split"), steps, ["--resume"])).Code);
        Same.ModelWeights(dir.File("straight"), dir.File("split"), steps);
    }

    [Fact]
    public void Info_prints_versions()
    {
        var (code, output) = Run("info");
        Assert.Equal(0, code);
        Assert.Contains(NativeLoadTests.TorchSharpPackageVersion, output);
        Assert.Contains("2.10.0", output);
        Assert.Contains("Fashion-MNIST", output);
    }

    [Theory]
    [InlineData(new[] { "info", "--bogus" }, "bogus")]
    [InlineData(new[] { "frobnicate" }, "frobnicate")]
    [InlineData(new[] { "info", "--device", "tpu" }, "--device")]
    [InlineData(new[] { "info", "--threads", "-1" }, "--threads")]
    [InlineData(new[] { "quickstart", "--data", "/nonexistent/folder" }, "/nonexistent/folder")]
    public void User_errors_exit_2_with_one_line(string[] args, string mention)
    {
        var (code, output) = Run(args);
        Assert.Equal(2, code);
        string line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("tessera: error:", line);
        Assert.Contains(mention, line);
        Assert.DoesNotContain("   at ", output);
    }

    [SkippableFact]
    public void Cuda_without_a_cuda_libtorch_is_a_user_error()
    {
        Gate.Require(!TorchSharp.torch.cuda.is_available(), "this libtorch has CUDA: there is nothing to refuse");
        var (code, output) = Run("info", "--device", "cuda");
        Assert.Equal(2, code);
        Assert.Contains("CUDA", output);
    }

    [Fact]
    public void Corrupt_idx_in_data_folder_exits_2_naming_the_file()
    {
        using var dir = new TempDir();
        foreach (string f in new[] { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" })
            File.WriteAllBytes(dir.File(f), [0, 0, 8, 3, 0, 0, 0, 9]);
        var (code, output) = Run("quickstart", "--data", dir.Path, "--out", dir.File("out"));
        Assert.Equal(2, code);
        Assert.Contains("train-images-idx3-ubyte", output);
        Assert.Contains("truncated", output);
    }

    [Fact]
    public void Quickstart_writes_a_grid_png()
    {
        using var dir = new TempDir();
        var (code, output) = Run("quickstart", "--out", dir.Path, "--quiet", "--seg-steps", "2", "--diffusion-steps", "2");
        Assert.Equal(0, code);
        string png = Path.Combine(dir.Path, "fashion-mnist-grid.png");
        Assert.Contains(png, output);
        using var grid = Tessera.IO.ImageIO.Load(png, Tessera.IO.ColorMode.Gray);
        // 10 rows of 8 images of 28 px with 2 px padding.
        Assert.Equal(new long[] { 1, 10 * 30 + 2, 8 * 30 + 2 }, grid.shape);
        Assert.Contains("mIoU", output);
        Assert.True(File.Exists(Path.Combine(dir.Path, "gcn", "checkpoint.safetensors")));
        // The diffusion part: two sample grids (64 samples in 10 columns of 28 px tiles).
        foreach (string sampler in new[] { "heun", "dpmpp_2m" })
        {
            string samples = Path.Combine(dir.Path, "diffusion", $"samples-{sampler}.png");
            Assert.Contains(samples, output);
            using var g = Tessera.IO.ImageIO.Load(samples, Tessera.IO.ColorMode.Gray);
            Assert.Equal(new long[] { 1, 7 * 30 + 2, 10 * 30 + 2 }, g.shape);
        }
    }

    [Fact]
    public void Data_grid_reads_an_image_folder_and_rejects_non_images()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("imgs"));
        for (int i = 0; i < 5; i++)
            using (var t = TorchSharp.torch.full(3, 10 + i, 12, 40 * i, dtype: TorchSharp.torch.ScalarType.Byte))
                Tessera.IO.ImageIO.SavePng(t, Path.Combine(dir.File("imgs"), $"{i}.png"));
        var (code, output) = Run("data", "grid", "--images", dir.File("imgs"), "--size", "8", "--count", "4", "-o", dir.File("g.png"), "--quiet");
        Assert.Equal(0, code);
        using (var grid = Tessera.IO.ImageIO.Load(dir.File("g.png"), Tessera.IO.ColorMode.Rgb))
            Assert.Equal(new long[] { 3, 2 * 10 + 2, 2 * 10 + 2 }, grid.shape); // 2×2 tiles of 8 px, 2 px padding
        File.WriteAllText(Path.Combine(dir.File("imgs"), "readme.txt"), "x");
        (code, output) = Run("data", "grid", "--images", dir.File("imgs"), "-o", dir.File("h.png"));
        Assert.Equal(2, code);
        Assert.Contains("readme.txt", output);
        Assert.False(File.Exists(dir.File("h.png")));
    }

    [Fact]
    public void Checkpoint_inspect_lists_tensors_and_rejects_malformed_files()
    {
        using var dir = new TempDir();
        using (var t = TorchSharp.torch.zeros(2, 3))
            Tessera.IO.SafeTensors.Save(dir.File("ok.safetensors"), [new("w", t)], new Dictionary<string, string> { ["model"] = "demo" });
        var (code, output) = Run("checkpoint", "inspect", dir.File("ok.safetensors"));
        Assert.Equal(0, code);
        Assert.Contains("[2, 3]", output);
        Assert.Contains("model: demo", output);
        byte[] bytes = File.ReadAllBytes(dir.File("ok.safetensors"));
        File.WriteAllBytes(dir.File("torn.safetensors"), bytes[..^4]);
        (code, output) = Run("checkpoint", "inspect", dir.File("torn.safetensors"));
        Assert.Equal(2, code);
        Assert.Contains("torn.safetensors", output);
    }

    [Fact]
    public void Help_works_for_every_verb()
    {
        foreach (string[] verb in new[] { new[] { "info" }, ["quickstart"], ["data", "grid"], ["checkpoint", "inspect"] })
        {
            var (code, output) = Run([.. verb, "--help"]);
            Assert.Equal(0, code);
            Assert.Contains("--device", output);
        }
    }
}
