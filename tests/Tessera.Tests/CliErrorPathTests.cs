using Tessera.Diffusion.Training;

namespace Tessera.Tests;

/// <summary>
/// User errors of every verb, seen through a child process running the built tessera (so native noise on stderr
/// would show): exit 2, and stderr is exactly one line "tessera: error: …" that says what is wrong.
/// </summary>
public sealed class CliErrorPathTests(ITestOutputHelper log)
{
    /// <summary>The built command line: <c>dotnet Tessera.Cli.dll</c> beside the test assembly.</summary>
    internal static ProcessStartInfo Child(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Tessera.Cli.dll"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        return psi;
    }

    private static (int Code, string Stdout, string Stderr) RunChild(string[] args)
    {
        using var p = Process.Start(Child(args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(true); return (-1, stdout.Result, "timed out"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void User_errors_of_every_verb_exit_2_with_one_line_on_stderr()
    {
        using var dir = new TempDir();
        string D(string name) => dir.File(name);
        Directory.CreateDirectory(D("gt"));
        Directory.CreateDirectory(D("pred"));
        File.WriteAllBytes(Path.Combine(D("gt"), "a.png"), PngWriter.Indexed(2, 2, [0, 1, 1, 0], 8, 0, 4));
        File.WriteAllBytes(Path.Combine(D("pred"), "a.png"), PngWriter.Indexed(2, 2, [0, 1, 0, 0], 8, 0, 4));
        File.WriteAllLines(D("names2.txt"), ["background", "shirt"]);
        File.WriteAllText(D("corrupt.safetensors"), "this is not a checkpoint");
        File.WriteAllText(D("corrupt.pth"), "PK this is not a zip");
        using (var img = TorchSharp.torch.zeros([3, 8, 8], TorchSharp.torch.ScalarType.Byte)) Tessera.IO.ImageIO.SavePng(img, D("image.png"));
        var unet = DiffusionTrainingTests.TinyUNet();
        using (var m = new DiffusionModel(new DiffusionModelConfig(NetworkKind.UNet, unet))) m.Save(D("uncond.safetensors"));
        using (var m = new DiffusionModel(new DiffusionModelConfig(NetworkKind.UNet, DiffusionTrainingTests.TinyUNet(classes: 10)))) m.Save(D("cond.safetensors"));

        string[] Eval(params string[] extra) => ["seg", "eval", "--gt", D("gt"), "--pred", D("pred"), "--num-classes", "3", .. extra];
        string[] Sample(string ckpt, params string[] extra) => ["diffusion", "sample", "--checkpoint", D(ckpt), "--out", D("s.png"), .. extra];
        string[] SegTrain(params string[] extra) => ["seg", "train", "--out", D("seg"), .. extra];
        string[] DiffTrain(params string[] extra) => ["diffusion", "train", "--out", D("diff"), .. extra];
        string[] SamAuto(params string[] extra) => ["sam", "auto", "--checkpoint", D("corrupt.pth"), "--image", D("image.png"), "--out", D("auto"), .. extra];
        var cases = new (string[] Args, string Fragment)[]
        {
            (Sample("uncond.safetensors", "--steps", "0"), "--steps"),
            (Sample("uncond.safetensors", "--steps", "-3"), "--steps"),
            (Sample("uncond.safetensors", "--batch", "0"), "--batch"),
            (Sample("uncond.safetensors", "--count", "0"), "--count"),
            (Sample("uncond.safetensors", "--class", "3"), "unconditional"),
            (Sample("cond.safetensors", "--class", "10"), "--class"),
            (Sample("cond.safetensors", "--class", "-1"), "--class"),
            (Sample("corrupt.safetensors"), "corrupt.safetensors"),
            (["diffusion", "eval", "--checkpoint", D("uncond.safetensors"), "--steps", "0"], "--steps"),
            (["diffusion", "eval", "--checkpoint", D("corrupt.safetensors")], "corrupt.safetensors"),
            (["diffusion", "analytic", "--steps", "0"], "--steps"),
            (Eval("--num-classes", "0"), "--num-classes"),
            (Eval("--num-classes", "300"), "--num-classes"),
            (Eval("--class-names", D("names2.txt")), "names2.txt"),
            (Eval("--beta", "0"), "--beta"),
            (Eval("--beta", "-1"), "--beta"),
            (Eval("--beta", "nan"), "--beta"),
            (SegTrain("--width", "24"), "--width"),
            (SegTrain("--loss", "bogus"), "--loss"),
            (SegTrain("--steps", "0"), "--steps"),
            (SegTrain("--batch", "0"), "--batch"),
            (SegTrain("--batch", "6", "--accumulate", "4"), "--batch"),
            (SegTrain("--optimizer", "bogus"), "--optimizer"),
            (SegTrain("--schedule", "bogus"), "--schedule"),
            (SegTrain("--dataset", "voc", "--data-root", D("gt"), "--canvas", "64"), "--canvas"),
            (SegTrain("--dataset", "voc", "--data-root", D("gt"), "--eval-scenes", "8"), "--eval-scenes"),
            (SegTrain("--dataset", "voc", "--data-root", D("gt"), "--loss", "ce+bogus"), "--loss"),
            (SegTrain("--dataset", "voc", "--data-root", D("gt"), "--mode", "bogus"), "--mode"),
            (SegTrain("--pretrained", D("corrupt.safetensors")), "--pretrained"),
            (["seg", "predict", "--checkpoint", D("corrupt.safetensors"), "--input", D("gt"), "--output", D("p"), "--mode", "bogus"], "--mode"),
            (Eval("--on-missing", "bogus"), "--on-missing"),
            (["seg", "make-dataset", "--split", "test", "--out", D("scenes")], "--split"),
            (["data", "grid", "--split", "val", "--out", D("grid.png")], "--split"),
            (DiffTrain("--net", "bogus"), "--net"),
            (DiffTrain("--formulation", "bogus"), "--formulation"),
            (DiffTrain("--net", "dit", "--patch", "3", "--size", "28"), "--patch"),
            (DiffTrain("--steps", "0"), "--steps"),
            (DiffTrain("--batch", "0"), "--batch"),
            (["sam", "train", "--out", D("samt"), "--steps", "0"], "--steps"),
            (["sam", "train", "--out", D("samt"), "--batch", "0"], "--batch"),
            (SamAuto("--points-per-side", "0"), "--points-per-side"),
            (SamAuto("--points-per-batch", "0"), "--points-per-batch"),
            (SamAuto("--pred-iou-thresh", "nan"), "--pred-iou-thresh"),
            (SamAuto("--stability-thresh", "1.5"), "--stability-thresh"),
            (SamAuto("--box-nms-thresh", "-0.5"), "--box-nms-thresh"),
            (SamAuto("--crop-layers", "-1"), "--crop-layers"),
            (SamAuto("--min-region-area", "-1"), "--min-region-area"),
            (SamAuto("--output-mode", "bogus"), "--output-mode"),
            (SamAuto(), "corrupt.pth"),
            (["sam", "segment", "--checkpoint", D("corrupt.pth"), "--image", D("image.png"), "--point", "1,1", "--output", D("seg.png")], "corrupt.pth"),
            (["sam", "segment", "--checkpoint", D("corrupt.pth"), "--image", D("image.png"), "--point", "1,1", "--output", D("a.png"), "-o", D("b.png")], "--output"),
            (["seg", "predict", "--checkpoint", D("corrupt.safetensors"), "--input", D("gt"), "--output", D("p")], "corrupt.safetensors"),
            (["posenc", "bench", "--steps", "0"], "--steps"),
            (["posenc", "bench", "--train-length", "0"], "--train-length"),
            (["posenc", "bench", "--encodings", "bogus"], "bogus"),
            (["diffusion", "analytic", "--bench", "--bench-problems", "ring,bogus"], "--bench-problems"),
            (["info", "--device", "cuda:99"], "cuda"),
            (["diffusion", "sample", "--checkpoint", D("uncond.safetensors"), "--device", "cuda:99"], "cuda"),
        };
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.ForEach(cases, new ParallelOptions { MaxDegreeOfParallelism = 2 }, c =>
        {
            var (code, stdout, stderr) = RunChild(c.Args);
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            string args = string.Join(" ", c.Args.Select(a => a.Replace(dir.Path, "…", StringComparison.Ordinal)));
            if (code != 2 || lines.Length != 1 || !lines[0].StartsWith("tessera: error:", StringComparison.Ordinal) || !lines[0].Contains(c.Fragment, StringComparison.Ordinal))
                failures.Add($"{args}\n    exit {code}, stderr: {stderr.Trim().Replace(dir.Path, "…", StringComparison.Ordinal)}\n    stdout: {stdout.Trim()[..Math.Min(300, stdout.Trim().Length)]}");
        });
        foreach (var f in failures) log.WriteLine(f);
        Assert.True(failures.IsEmpty, $"{failures.Count} of {cases.Length} cases:\n" + string.Join("\n", failures));
    }
}
