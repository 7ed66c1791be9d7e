using Tessera.Segmentation.Data;

namespace Tessera.Segmentation.Transforms;

/// <summary>
/// mmsegmentation's RandomCrop: a window of the crop size (smaller where the image is) at a uniform
/// offset; with <see cref="CatMaxRatio"/> below 1 the window is redrawn, up to <see cref="MaxTries"/>
/// times, while one class covers that share or more of its non-ignored pixels or it holds fewer than two
/// classes (after the last try the last window drawn is kept, as mmsegmentation does).
/// </summary>
/// <param name="CropHeight">Window height.</param>
/// <param name="CropWidth">Window width.</param>
/// <param name="CatMaxRatio">Largest share of one class in the window (0.75); 1 turns the check off.</param>
/// <param name="MaxTries">Redraws (10).</param>
public sealed record RandomCrop(int CropHeight = 512, int CropWidth = 512, double CatMaxRatio = 0.75, int MaxTries = 10)
{
    /// <summary>A window (x, y, w, h) inside a <paramref name="width"/> × <paramref name="height"/> image; draws two numbers.</summary>
    public (int X, int Y, int W, int H) DrawWindow(int width, int height, ref SampleRandom rng)
    {
        int marginH = Math.Max(height - CropHeight, 0), marginW = Math.Max(width - CropWidth, 0);
        int y = rng.Int(0, marginH + 1), x = rng.Int(0, marginW + 1);
        return (x, y, Math.Min(CropWidth, width - x), Math.Min(CropHeight, height - y));
    }

    /// <summary>Whether the window passes the category check: at least two classes and none at <see cref="CatMaxRatio"/> or more of the non-ignored pixels.</summary>
    public bool Passes(SegmentationSample s, (int X, int Y, int W, int H) window) => Passes(s.Label, s.Width, window);

    /// <summary>The category check on a label map of width <paramref name="width"/>.</summary>
    public bool Passes(ReadOnlySpan<byte> label, int width, (int X, int Y, int W, int H) window)
    {
        Span<int> counts = stackalloc int[256];
        for (int r = 0; r < window.H; r++)
            foreach (byte v in label.Slice((window.Y + r) * width + window.X, window.W)) counts[v]++;
        counts[SegmentationSample.IgnoreIndex] = 0;
        int classes = 0, max = 0;
        long sum = 0;
        foreach (int c in counts)
        {
            if (c == 0) continue;
            classes++;
            max = Math.Max(max, c);
            sum += c;
        }
        return classes > 1 && max < CatMaxRatio * sum;
    }

    /// <summary>Crops the sample.</summary>
    public SegmentationSample Apply(SegmentationSample s, ref SampleRandom rng) => Crop(s, ChooseWindow(s.Label, s.Width, s.Height, ref rng));

    /// <summary>The window the crop takes from a label map: drawn, and redrawn while the category check fails.</summary>
    public (int X, int Y, int W, int H) ChooseWindow(ReadOnlySpan<byte> label, int width, int height, ref SampleRandom rng)
    {
        var window = DrawWindow(width, height, ref rng);
        if (CatMaxRatio < 1)
            for (int i = 0; i < MaxTries; i++)
            {
                if (Passes(label, width, window)) break;
                window = DrawWindow(width, height, ref rng);
            }
        return window;
    }

    /// <summary>The window (x, y, w, h) of a sample.</summary>
    public static SegmentationSample Crop(SegmentationSample s, (int X, int Y, int W, int H) window) =>
        new(window.W, window.H, Resampling.Crop(s.Image, s.Width, 3, window.X, window.Y, window.W, window.H),
            Resampling.Crop(s.Label, s.Width, 1, window.X, window.Y, window.W, window.H));
}
