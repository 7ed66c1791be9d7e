using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Tessera.Data;
using Tessera.Segmentation.Sam.Data;

namespace Tessera.Bench.Fuzz;

/// <summary>The parsers of user files, each with seeds and structured mutations.</summary>
public static class FuzzTargets
{
    /// <summary>Every target by name.</summary>
    public static IReadOnlyDictionary<string, Func<FuzzTarget>> All { get; } = new Dictionary<string, Func<FuzzTarget>>(StringComparer.OrdinalIgnoreCase)
    {
        ["labelpng"] = LabelPngTarget,
        ["image"] = ImageTarget,
        ["safetensors"] = SafeTensorsTarget,
        ["idx"] = IdxTarget,
        ["pth"] = PthTarget,
        ["rawarray"] = RawArrayTarget,
        ["mixture"] = MixtureTarget,
        ["coco"] = CocoTarget,
        ["labelme"] = LabelmeTarget,
    };

    private static Dictionary<string, byte[]> One(string name, byte[] bytes) => new() { [name] = bytes };

    private static Dictionary<string, byte[]> MutateOne(Random r, Dictionary<string, byte[]> seed, Func<Random, byte[], byte[]> mutate) =>
        seed.ToDictionary(kv => kv.Key, kv => mutate(r, kv.Value));

    private static List<Dictionary<string, byte[]>> PngSeeds(string name)
    {
        var r = new Random(1);
        byte[] palette = [.. Enumerable.Range(0, 16 * 3).Select(i => (byte)(i * 5))];
        return
        [
            One(name, Png.Image(7, 5, 8, 0, 1, r)),
            One(name, Png.Image(9, 4, 4, 3, 1, r, palette: palette)),
            One(name, Png.Image(13, 3, 1, 0, 1, r)),
            One(name, Png.Image(5, 5, 2, 0, 1, r)),
            One(name, Png.Image(4, 3, 16, 0, 1, r)),          // 16-bit gray
            One(name, Png.Image(1, 1, 8, 0, 1, r, interlace: 1)), // interlaced (Adam7 of one pixel is the pixel)
            One(name, Png.Image(6, 4, 8, 2, 3, r)),           // RGB
            One(name, Png.Image(3, 3, 8, 6, 4, r)),           // RGBA
        ];
    }

    private static FuzzTarget LabelPngTarget() => new("labelpng", PngSeeds("label.png"),
        (r, s) => MutateOne(r, s, Png.Mutate),
        dir => { var m = LabelPng.Read(Path.Combine(dir, "label.png")); return m.Labels.Length; });

    private static FuzzTarget ImageTarget()
    {
        var seeds = PngSeeds("image.png");
        using (var t = torch.randint(0, 256, [3, 6, 5], torch.ScalarType.Byte, generator: new torch.Generator(2)))
            seeds.Add(One("image.png", ImageIO.EncodePng(t)));
        return new("image", seeds, (r, s) => MutateOne(r, s, Png.Mutate),
            dir => { using var t = ImageIO.Load(Path.Combine(dir, "image.png"), ColorMode.Rgb); return t.numel(); });
    }

    private static FuzzTarget SafeTensorsTarget()
    {
        var seeds = new List<Dictionary<string, byte[]>>();
        var g = new torch.Generator(3);
        foreach (var dtypes in new[] { new[] { torch.ScalarType.Float32, torch.ScalarType.Int64 }, new[] { torch.ScalarType.Float16, torch.ScalarType.Bool, torch.ScalarType.BFloat16 }, new[] { torch.ScalarType.Byte } })
        {
            var tensors = dtypes.Select((d, i) => new KeyValuePair<string, torch.Tensor>($"t{i}", torch.randn([2, 3], generator: g).to(d))).ToList();
            var ms = new MemoryStream();
            SafeTensors.Write(ms, tensors, new Dictionary<string, string> { ["format"] = "pt" });
            seeds.Add(One("model.safetensors", ms.ToArray()));
            foreach (var t in tensors) t.Value.Dispose();
        }
        return new("safetensors", seeds, (r, s) => MutateOne(r, s, MutateSafeTensors),
            dir => { using var f = SafeTensors.Load(Path.Combine(dir, "model.safetensors")); return f.Tensors.Values.Sum(t => t.numel() * t.element_size()); });
    }

    private static byte[] MutateSafeTensors(Random r, byte[] file)
    {
        long n = BinaryPrimitives.ReadInt64LittleEndian(file);
        if (r.Next(3) == 0 || n < 2 || 8 + n > file.Length) return Mutator.Bytes(r, file, [0, 8, (int)Math.Min(8 + Math.Max(0, n), file.Length)]);
        string header = Encoding.UTF8.GetString(file, 8, (int)n);
        byte[] data = file[(8 + (int)n)..];
        if (r.Next(3) == 0)
        {
            // Overlapping or shared offsets: one tensor's data_offsets given to another.
            var root = JsonNode.Parse(header)!.AsObject();
            var names = root.Select(kv => kv.Key).Where(k => k != "__metadata__").ToList();
            if (names.Count >= 2)
            {
                string a = names[r.Next(names.Count)], b = names[r.Next(names.Count)];
                root[b]!["data_offsets"] = root[a]!["data_offsets"]!.DeepClone();
            }
            header = root.ToJsonString();
        }
        else header = Mutator.Json(r, header);
        var hb = Encoding.UTF8.GetBytes(header);
        var outp = new byte[8 + hb.Length + data.Length];
        BinaryPrimitives.WriteInt64LittleEndian(outp, r.Next(8) == 0 ? Mutator.Interesting[r.Next(Mutator.Interesting.Length)] : hb.Length);
        hb.CopyTo(outp, 8);
        data.CopyTo(outp, 8 + hb.Length);
        return r.Next(6) == 0 ? Mutator.Bytes(r, outp, [8 + hb.Length]) : outp;
    }

    private static FuzzTarget IdxTarget()
    {
        var seeds = new List<Dictionary<string, byte[]>>();
        var r = new Random(4);
        foreach (var (type, shape) in new[] { (IdxType.UInt8, new long[] { 3, 4, 5 }), (IdxType.Int32, new long[] { 7 }), (IdxType.Float64, new long[] { 2, 2 }), (IdxType.Int16, new long[] { 1, 1, 1, 3 }) })
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            var data = new byte[count * Idx.ElementSize(type)];
            r.NextBytes(data);
            var ms = new MemoryStream();
            Idx.Write(ms, new IdxArray(shape, type, data));
            seeds.Add(One("data-idx3-ubyte", ms.ToArray()));
            var gz = new MemoryStream();
            using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true)) z.Write(ms.ToArray());
            seeds.Add(One("data-idx3-ubyte", gz.ToArray()));
        }
        return new("idx", seeds, (rr, s) => MutateOne(rr, s, MutateIdx),
            dir => Idx.Read(Path.Combine(dir, "data-idx3-ubyte")).Data.Length);
    }

    private static byte[] MutateIdx(Random r, byte[] file)
    {
        bool gz = file.Length > 2 && file[0] == 0x1f && file[1] == 0x8b;
        byte[] plain = file;
        if (gz)
        {
            if (r.Next(3) == 0) return Mutator.Bytes(r, file, [0, 10, file.Length - 8]); // damage the gzip container itself
            using var z = new GZipStream(new MemoryStream(file), CompressionMode.Decompress);
            var ms = new MemoryStream();
            z.CopyTo(ms);
            plain = ms.ToArray();
        }
        int rank = plain.Length >= 4 ? plain[3] : 0;
        var bounds = new List<int> { 0, 2, 3, 4 };
        for (int i = 1; i <= rank; i++) bounds.Add(4 * i);
        byte[] m;
        if (r.Next(2) == 0 && plain.Length >= 4 + 4 * rank && rank > 0)
        {
            m = (byte[])plain.Clone();
            int d = r.Next(rank);
            BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(4 + 4 * d), (uint)Mutator.Interesting[r.Next(Mutator.Interesting.Length)]);
        }
        else m = Mutator.Bytes(r, plain, bounds);
        if (!gz) return m;
        var outp = new MemoryStream();
        using (var z = new GZipStream(outp, CompressionLevel.Fastest, leaveOpen: true)) z.Write(m);
        return outp.ToArray();
    }

    private static FuzzTarget PthTarget()
    {
        var seeds = new List<Dictionary<string, byte[]>>();
        string tmp = Directory.CreateTempSubdirectory("tessera-fuzz-pth-").FullName;
        var g = new torch.Generator(5);
        System.Collections.Hashtable Tensors() => new()
        {
            ["conv.weight"] = torch.randn([2, 1, 3, 3], generator: g),
            ["conv.bias"] = torch.randn([2], generator: g).to(torch.ScalarType.Float64),
            ["bn.num_batches_tracked"] = torch.tensor(3L),
            ["half"] = torch.randn([4], generator: g).to(torch.ScalarType.Float16),
        };
        var tables = new List<System.Collections.Hashtable>
        {
            Tensors(),
            new() { ["state_dict"] = Tensors() },       // the wrapper torch.save({'state_dict': ...}) writes
            new() { ["model"] = Tensors(), ["epoch"] = 3 }, // a training checkpoint with a non-tensor entry
            new() { ["w"] = torch.zeros([0]), ["step"] = "x" },
        };
        int k = 0;
        foreach (var table in tables)
        {
            string path = Path.Combine(tmp, $"{k++}.pth");
            try
            {
                TorchSharp.PyBridge.PyTorchPickler.PickleStateDict(path, table);
                seeds.Add(One("weights.pth", File.ReadAllBytes(path)));
            }
            catch (Exception e) when (e is NotSupportedException or InvalidCastException or ArgumentException or InvalidOperationException)
            {
                // PyBridge cannot write this shape; its reader is still attacked through the other seeds.
            }
        }
        Directory.Delete(tmp, true);
        return new("pth", seeds, (r, s) => MutateOne(r, s, MutatePth),
            dir =>
            {
                var d = Checkpoint.ReadPyTorch(Path.Combine(dir, "weights.pth"));
                long bytes = d.Values.Sum(t => t.numel() * t.element_size());
                foreach (var t in d.Values) t.Dispose();
                return bytes;
            });
    }

    private static byte[] MutatePth(Random r, byte[] zip)
    {
        // Local headers (PK\3\4), central directory (PK\1\2) and its end (PK\5\6): the boundaries of the container.
        var bounds = new List<int>();
        for (int i = 0; i + 4 <= zip.Length; i++)
            if (zip[i] == (byte)'P' && zip[i + 1] == (byte)'K' && zip[i + 2] is 1 or 3 or 5)
            {
                bounds.Add(i);
                bounds.Add(i + 14); // CRC-32 of a local header
                bounds.Add(i + 18); // compressed size
            }
        if (r.Next(2) == 0) return Mutator.Bytes(r, zip, bounds);
        // Rewrite one entry with valid CRCs: a damaged pickle or a truncated/extended tensor storage.
        try
        {
            var entries = new List<(string Name, byte[] Data)>();
            using (var za = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read))
                foreach (var e in za.Entries)
                {
                    using var s = e.Open();
                    var ms = new MemoryStream();
                    s.CopyTo(ms);
                    entries.Add((e.FullName, ms.ToArray()));
                }
            int i = r.Next(entries.Count);
            var (name, data) = entries[i];
            entries[i] = (name, name.EndsWith(".pkl", StringComparison.Ordinal) ? Mutator.Bytes(r, data, []) : r.Next(2) == 0 ? data[..r.Next(data.Length + 1)] : [.. data, .. new byte[1 + r.Next(16)]]);
            var outp = new MemoryStream();
            using (var za = new ZipArchive(outp, ZipArchiveMode.Create, leaveOpen: true))
                foreach (var (n, d) in entries)
                {
                    using var s = za.CreateEntry(n, CompressionLevel.NoCompression).Open();
                    s.Write(d);
                }
            return outp.ToArray();
        }
        catch (InvalidDataException)
        {
            return Mutator.Bytes(r, zip, bounds);
        }
    }

    private static FuzzTarget RawArrayTarget()
    {
        var seeds = new List<Dictionary<string, byte[]>>();
        foreach (var shape in new[] { new long[] { 3, 2 }, new long[] { 5 }, new long[] { 0, 4 } })
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            var bin = new byte[count * 8];
            new Random(6).NextBytes(bin);
            string json = $"{{\"shape\": [{string.Join(", ", shape)}], \"dtype\": \"float64\", \"byte_order\": \"little\", \"description\": \"noise\"}}";
            seeds.Add(new() { ["noise.bin"] = bin, ["noise.json"] = Encoding.UTF8.GetBytes(json) });
        }
        return new("rawarray", seeds, (r, s) =>
        {
            var m = new Dictionary<string, byte[]>(s);
            int which = r.Next(4);
            if (which is 0 or 2) m["noise.json"] = Encoding.UTF8.GetBytes(Mutator.Json(r, Encoding.UTF8.GetString(s["noise.json"])));
            if (which is 1 or 2) m["noise.bin"] = Mutator.Bytes(r, s["noise.bin"], [0, 8, s["noise.bin"].Length]);
            if (which == 3) m["noise.json"] = Mutator.Bytes(r, s["noise.json"], []);
            if (r.Next(20) == 0) m.Remove(r.Next(2) == 0 ? "noise.json" : "noise.bin");
            return m;
        }, dir => { using var t = RawArray.ReadFloat64(Path.Combine(dir, "noise.bin")); return t.numel() * 8; });
    }

    private static FuzzTarget MixtureTarget()
    {
        string json = """{"dim": 2, "weights": [0.25, 0.75], "stds": [0.5, 1.0], "means": [[0, 1], [2, -3]]}""";
        string json3 = """{"dim": 3, "weights": [1], "stds": [0.1], "means": [[0, 0, 0]], "note": "one mode"}""";
        return new("mixture", [One("mixture.json", Encoding.UTF8.GetBytes(json)), One("mixture.json", Encoding.UTF8.GetBytes(json3))],
            (r, s) => MutateOne(r, s, (rr, b) => rr.Next(5) == 0 ? Mutator.Bytes(rr, b, []) : Encoding.UTF8.GetBytes(Mutator.Json(rr, Encoding.UTF8.GetString(b)))),
            dir => { _ = GaussianMixture.Load(Path.Combine(dir, "mixture.json")); return 0; });
    }

    private static byte[] TinyPng()
    {
        using var t = torch.zeros([3, 5, 6], torch.ScalarType.Byte);
        return ImageIO.EncodePng(t);
    }

    /// <summary>Every object's mask, area and box of every image: what a trainer reads.</summary>
    private static long ReadAll(InstanceDataset ds)
    {
        long total = 0;
        for (int i = 0; i < ds.Count; i++)
            foreach (var o in ds[i].Objects) total += o.Area + (long)o.Bbox.Sum();
        return total;
    }

    private static Dictionary<string, byte[]> MutateJson(Random r, Dictionary<string, byte[]> s, string jsonName, string imageName)
    {
        var m = new Dictionary<string, byte[]>(s);
        m[jsonName] = r.Next(5) == 0 ? Mutator.Bytes(r, s[jsonName], []) : Encoding.UTF8.GetBytes(Mutator.Json(r, Encoding.UTF8.GetString(s[jsonName])));
        if (r.Next(20) == 0) m.Remove(imageName);
        return m;
    }

    // COCO 2017's layout: polygons with several parts, uncompressed and compressed RLE, a crowd region, one 6×5 image.
    private static FuzzTarget CocoTarget()
    {
        string json = """
            {"images": [{"id": 1, "file_name": "img.png", "height": 5, "width": 6}],
             "categories": [{"id": 3, "name": "thing"}],
             "annotations": [
               {"id": 10, "image_id": 1, "category_id": 3, "iscrowd": 0, "segmentation": [[0.5, 0.5, 4.5, 0.5, 4.5, 3.5], [1, 4, 2, 4, 2, 5]]},
               {"id": 11, "image_id": 1, "category_id": 3, "iscrowd": 1, "segmentation": {"size": [5, 6], "counts": [3, 4, 10, 2, 11]}}]}
            """;
        const string ann = "annotations/instances_val.json", img = "val/img.png";
        return new("coco", [new() { [ann] = Encoding.UTF8.GetBytes(json), [img] = TinyPng() }],
            (r, s) => MutateJson(r, s, ann, img),
            dir => ReadAll(InstanceDataset.Open(InstanceDatasetFormat.Coco, dir, "val")));
    }

    // labelme: a polygon and a rectangle beside the image.
    private static FuzzTarget LabelmeTarget()
    {
        string json = """
            {"version": "5.2.1", "imagePath": "img.png", "imageHeight": 5, "imageWidth": 6, "imageData": null,
             "shapes": [{"label": "cat", "points": [[0.5, 0.5], [4.5, 0.5], [4.5, 3.5]], "group_id": null, "shape_type": "polygon", "flags": {}},
                        {"label": "box", "points": [[1, 1], [3, 4]], "group_id": 2, "shape_type": "rectangle", "flags": {}}]}
            """;
        return new("labelme", [new() { ["img.json"] = Encoding.UTF8.GetBytes(json), ["img.png"] = TinyPng() }],
            (r, s) => MutateJson(r, s, "img.json", "img.png"),
            dir => ReadAll(InstanceDataset.Open(InstanceDatasetFormat.Labelme, dir)));
    }
}
