using System.Globalization;
using System.Text.Json;
using Tessera.IO;
using TorchSharp;

namespace Tessera.Segmentation.Sam;

/// <summary>What an <see cref="AmgBatch"/> run did.</summary>
/// <param name="Done">Images processed in this run.</param>
/// <param name="Skipped">Images whose output already existed (a restarted run).</param>
/// <param name="Failures">Images that could not be processed, with the reason (an unreadable file, a name clash).</param>
/// <param name="Masks">Masks written in this run.</param>
/// <param name="Seconds">Wall time spent on the processed images (reading, generating and writing).</param>
public sealed record AmgBatchSummary(int Done, int Skipped, IReadOnlyList<(string Path, string Reason)> Failures, long Masks, double Seconds)
{
    /// <summary>Images that failed.</summary>
    public int Failed => Failures.Count;
}

/// <summary>
/// The official <c>scripts/amg.py</c> over a folder or a file: per input image <c>NAME</c>, either a folder
/// <c>OUT/NAME/</c> of mask PNGs (<c>0.png</c>, <c>1.png</c>, … at 0/255) with a <c>metadata.csv</c> in the
/// official columns, or (<paramref name="convertToRle"/>) one <c>OUT/NAME.json</c> holding SA-1B's annotation
/// fields with COCO RLE segmentations. An image whose output exists is skipped, so an interrupted run is
/// restarted by running it again; every file is written atomically and <c>metadata.csv</c> last, so a folder
/// without it is redone. An unreadable image is reported and skipped.
/// </summary>
/// <param name="generator">The mask generator (its options hold points per side and per batch).</param>
/// <param name="convertToRle">Write one JSON per image instead of PNG folders.</param>
public sealed class AmgBatch(AutomaticMaskGenerator generator, bool convertToRle = false)
{
    /// <summary>The official metadata.csv header.</summary>
    public const string MetadataHeader = "id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h";

    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"];

    /// <summary>The images a run over <paramref name="input"/> reads: the file itself, or a folder's image files (not recursive, sorted).</summary>
    /// <exception cref="TesseraUserException">The input does not exist.</exception>
    public static List<string> Targets(string input)
    {
        if (File.Exists(input)) return [Path.GetFullPath(input)];
        if (!Directory.Exists(input)) throw new TesseraUserException($"{input}: no such file or folder");
        return [.. Directory.EnumerateFiles(input).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Select(Path.GetFullPath).Order(StringComparer.Ordinal)];
    }

    /// <summary>The output of one image: the folder of masks, or the JSON file.</summary>
    public string OutputOf(string image, string outputDir) =>
        Path.Combine(outputDir, Path.GetFileNameWithoutExtension(image) + (convertToRle ? ".json" : ""));

    /// <summary>Runs over <paramref name="input"/> into <paramref name="outputDir"/>; <paramref name="progress"/> gets (images finished, total, image).</summary>
    public AmgBatchSummary Run(string input, string outputDir, Action<int, int, string>? progress = null, CancellationToken cancellation = default)
    {
        var targets = Targets(input);
        Directory.CreateDirectory(outputDir);
        var failures = new List<(string, string)>();
        var owner = new Dictionary<string, string>();
        int done = 0, skipped = 0;
        long masks = 0;
        double seconds = 0;
        for (int i = 0; i < targets.Count; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            string image = targets[i], output = OutputOf(image, outputDir);
            if (!owner.TryAdd(output, image))
                failures.Add((image, $"its output {output} is also that of {owner[output]}; rename one of them"));
            else if (convertToRle ? File.Exists(output) : File.Exists(Path.Combine(output, "metadata.csv")))
                skipped++;
            else
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                torch.Tensor rgb;
                try { rgb = ImageIO.Load(image, ColorMode.Rgb); }
                catch (TesseraUserException e) { failures.Add((image, e.Message)); rgb = null!; }
                if (rgb is not null)
                {
                    using (rgb)
                    {
                        var found = generator.Generate(rgb);
                        if (convertToRle) WriteJson(output, found);
                        else WriteFolder(output, found);
                        masks += found.Count;
                    }
                    done++;
                    seconds += clock.Elapsed.TotalSeconds;
                }
            }
            progress?.Invoke(i + 1, targets.Count, image);
        }
        return new AmgBatchSummary(done, skipped, failures, masks, seconds);
    }

    /// <summary>Writes masks as the official <c>write_masks_to_folder</c>: i.png (0/255) and metadata.csv.</summary>
    public static void WriteFolder(string folder, IReadOnlyList<AmgMask> masks)
    {
        Directory.CreateDirectory(folder);
        var lines = new List<string> { MetadataHeader };
        for (int i = 0; i < masks.Count; i++)
        {
            var m = masks[i];
            var bits = m.Segmentation.Decode();
            var bytes = new byte[bits.Length];
            for (int p = 0; p < bits.Length; p++) bytes[p] = bits[p] ? (byte)255 : (byte)0;
            using (var t = torch.tensor(bytes, [1, m.Segmentation.Height, m.Segmentation.Width]))
                ImageIO.SavePng(t, Path.Combine(folder, $"{i}.png"));
            lines.Add(string.Join(",", [i.ToString(CultureInfo.InvariantCulture), m.Area.ToString(CultureInfo.InvariantCulture),
                .. m.BoxXywh.Select(v => v.ToString(CultureInfo.InvariantCulture)), .. m.PointCoords.Select(PyFloat),
                PyFloat(m.PredictedIou), PyFloat(m.StabilityScore), .. m.CropBoxXywh.Select(v => v.ToString(CultureInfo.InvariantCulture))]));
        }
        AtomicFile.WriteAllText(Path.Combine(folder, "metadata.csv"), string.Join("\n", lines));
    }

    /// <summary>Writes masks as the official coco_rle output: a list of SA-1B annotation dicts in the official key order.</summary>
    public static void WriteJson(string path, IReadOnlyList<AmgMask> masks)
    {
        AtomicFile.Write(path, stream =>
        {
            using var w = new Utf8JsonWriter(stream);
            w.WriteStartArray();
            foreach (var m in masks)
            {
                w.WriteStartObject();
                w.WriteStartObject("segmentation");
                w.WriteStartArray("size");
                w.WriteNumberValue(m.Segmentation.Height);
                w.WriteNumberValue(m.Segmentation.Width);
                w.WriteEndArray();
                w.WriteString("counts", m.Segmentation.ToCocoString());
                w.WriteEndObject();
                w.WriteNumber("area", m.Area);
                w.WriteStartArray("bbox");
                foreach (int v in m.BoxXywh) w.WriteNumberValue(v);
                w.WriteEndArray();
                w.WritePropertyName("predicted_iou");
                w.WriteRawValue(PyFloat(m.PredictedIou));
                w.WriteStartArray("point_coords");
                w.WriteStartArray();
                foreach (double v in m.PointCoords) w.WriteRawValue(PyFloat(v));
                w.WriteEndArray();
                w.WriteEndArray();
                w.WritePropertyName("stability_score");
                w.WriteRawValue(PyFloat(m.StabilityScore));
                w.WriteStartArray("crop_box");
                foreach (int v in m.CropBoxXywh) w.WriteNumberValue(v);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
    }

    /// <summary>A double as Python's <c>str</c>/<c>repr</c> writes it for ordinary magnitudes: shortest round trip, "16.0" for integers, "1e-05" exponents.</summary>
    internal static string PyFloat(double v)
    {
        if (double.IsNaN(v)) return "NaN";
        if (double.IsInfinity(v)) return v > 0 ? "Infinity" : "-Infinity";
        string s = v.ToString("R", CultureInfo.InvariantCulture);
        if (s.Contains('E')) return s.Replace('E', 'e');
        return s.Contains('.') ? s : s + ".0";
    }
}
