namespace Tessera.Bench;

/// <summary>
/// Throughput of the automatic mask generator over a folder: masks per second and images per minute of
/// <see cref="AutomaticMaskGenerator"/> (image loading included, the decoder run on batches of points) on the tiny
/// fixture SAM (tests/fixtures/sam/sam_tiny.pth), against the official generator written out in PyTorch
/// (bench/scripts/amg_torch.py, checked against the official generator's own output) with the same model, images,
/// settings and thread count. The two sides alternate, round by round; medians of wall and process CPU time.
/// </summary>
internal static class AmgBench
{
    private const int PointsPerSide = 16, PointsPerBatch = 64, Width = 320, Height = 240;
    private const double PredIou = -100, Stability = 0;

    public static void Run(string[] args)
    {
        int threads = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : Environment.ProcessorCount;
        int images = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4;
        int rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3;
        Tessera.Runtime.TorchRuntime.Configure(new Tessera.Runtime.RuntimeOptions());
        torch.set_num_threads(threads);
        string checkpoint = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "tests", "fixtures", "sam", "sam_tiny.pth");
        if (!File.Exists(checkpoint)) throw new FileNotFoundException($"the tiny SAM fixture is not at {Path.GetFullPath(checkpoint)}");
        string folder = Directory.CreateTempSubdirectory("tessera-amg-bench-").FullName;
        try
        {
            WriteScenes(folder, images);
            using var model = new SamModel(new SamConfig(ImageSize: 64, PatchSize: 8, EncoderDim: 32, EncoderDepth: 4, EncoderHeads: 2,
                GlobalAttentionBlocks: [1, 3], WindowSize: 3, PromptDim: 32, MaskInChannels: 16, DecoderDepth: 2, DecoderHeads: 2,
                DecoderMlpDim: 64, IouHeadHiddenDim: 32)); // the fixture's tiny configuration (its README)
            model.LoadWeights(checkpoint);
            model.eval();
            using var predictor = new SamPredictor(model);
            var generator = new AutomaticMaskGenerator(predictor, new AmgOptions(PointsPerSide: PointsPerSide, PointsPerBatch: PointsPerBatch,
                PredIouThreshold: PredIou, StabilityScoreThreshold: Stability));
            var files = Directory.GetFiles(folder, "*.png").Order(StringComparer.Ordinal).ToList();
            long Pass()
            {
                long masks = 0;
                foreach (string f in files)
                {
                    using var rgb = ImageIO.Load(f, ColorMode.Rgb);
                    masks += generator.Generate(rgb).Count;
                }
                return masks;
            }
            using (var warm = ImageIO.Load(files[0], ColorMode.Rgb)) generator.Generate(warm);
            var (ourWall, ourCpu, theirWall, theirCpu) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
            long ourMasks = 0, theirMasks = 0;
            string I(double v) => v.ToString(CultureInfo.InvariantCulture);
            for (int r = 0; r < rounds; r++)
            {
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                ourMasks = Pass();
                ourWall.Add(sw.Elapsed.TotalSeconds);
                ourCpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
                var t = PythonBaseline.Run("amg_torch.py", "bench", folder, I(threads), I(PointsPerSide), I(PointsPerBatch), I(PredIou), I(Stability), "1");
                if (t.TryGetValue("wall_s", out double w)) { theirWall.Add(w); theirCpu.Add(t["cpu_s"]); theirMasks = (long)t["masks"]; }
            }
            Console.WriteLine($"automatic mask generator, tiny SAM (64 px encoder), {files.Count} images {Width}x{Height}, {PointsPerSide}x{PointsPerSide} points, " +
                $"points-per-batch {PointsPerBatch}, pred_iou_thresh {PredIou}, stability_score_thresh {Stability}, float32, CPU, {threads} threads; medians of {rounds} alternating rounds");
            void Row(string side, long masks, List<double> wall, List<double> cpu) =>
                Console.WriteLine($"{side,-8} masks {masks,6}   wall {Median(wall),7:0.000} s  {masks / Median(wall),8:0.0} masks/s  {files.Count * 60 / Median(wall),7:0.0} images/min   " +
                    $"cpu {Median(cpu),7:0.000} s  {masks / Median(cpu),8:0.0} masks/cpu-s");
            Row("Tessera", ourMasks, ourWall, ourCpu);
            if (theirWall.Count == 0)
            {
                Console.WriteLine("PyTorch  not run: /usr/bin/python3 with torch, torchvision and PIL not found (apt-get install python3-torch python3-torchvision python3-pil)");
                return;
            }
            Row("PyTorch", theirMasks, theirWall, theirCpu);
            Console.WriteLine($"speed Tessera/PyTorch: wall {Median(theirWall) / Median(ourWall):0.00}   cpu {Median(theirCpu) / Median(ourCpu):0.00}" +
                (ourMasks == theirMasks ? "   (same mask count)" : $"   (mask counts differ: {ourMasks} vs {theirMasks})"));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    private static double Median(List<double> v)
    {
        var s = v.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    /// <summary>Deterministic scenes: a colour gradient with a few filled discs and rectangles, seed = image index.</summary>
    private static void WriteScenes(string folder, int n)
    {
        for (int k = 0; k < n; k++)
        {
            var rng = new Random(k);
            var px = new byte[Height * Width * 3];
            var shapes = Enumerable.Range(0, 6).Select(_ => (Disc: rng.Next(2) == 0, X: rng.Next(Width), Y: rng.Next(Height),
                R: rng.Next(15, 70), C: new[] { (byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256) })).ToList();
            for (int y = 0; y < Height; y++)
                for (int x = 0; x < Width; x++)
                {
                    byte[] c = [(byte)(x * 255 / Width), (byte)(y * 255 / Height), (byte)(128 + 40 * k % 128)];
                    foreach (var s in shapes)
                        if (s.Disc ? (x - s.X) * (x - s.X) + (y - s.Y) * (y - s.Y) < s.R * s.R : Math.Abs(x - s.X) < s.R && Math.Abs(y - s.Y) < s.R / 2)
                            c = s.C;
                    for (int ch = 0; ch < 3; ch++) px[(y * Width + x) * 3 + ch] = c[ch];
                }
            using var t = torch.tensor(px, [Height, Width, 3]).permute(2, 0, 1).contiguous();
            ImageIO.SavePng(t, Path.Combine(folder, $"scene{k:00}.png"));
        }
    }
}
