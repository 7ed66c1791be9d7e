using System.IO.Compression;
using Tessera.Data;

namespace Tessera.Bench;

/// <summary>
/// Checkpoint and dataset I/O: safetensors save/load of a 256 MB state dict against writing and reading
/// the same bytes with a plain FileStream (the floor), and IDX gzip reading against bare GZipStream.
/// </summary>
internal static class IoBench
{
    public static void Run(string[] args)
    {
        string dir = Directory.CreateTempSubdirectory("tessera-bench-").FullName;
        try
        {
            torch.manual_seed(0);
            var tensors = Enumerable.Range(0, 16).ToDictionary(i => $"layer{i}.weight", _ => torch.randn(2048, 2048));
            long bytes = tensors.Values.Sum(t => t.numel() * 4);
            byte[] raw = new byte[bytes];

            double Time(Action a, int reps = 3)
            {
                a();
                var best = double.MaxValue;
                for (int r = 0; r < reps; r++) { var sw = Stopwatch.StartNew(); a(); best = Math.Min(best, sw.Elapsed.TotalSeconds); }
                return best;
            }

            string st = Path.Combine(dir, "m.safetensors"), plain = Path.Combine(dir, "m.bin");
            double save = Time(() => SafeTensors.Save(st, tensors));
            double write = Time(() => { using var f = File.Create(plain); f.Write(raw); f.Flush(true); });
            double load = Time(() => SafeTensors.Load(st).Dispose());
            double read = Time(() => { using var f = File.OpenRead(plain); f.ReadExactly(raw); });
            double mb = bytes / 1e6;
            Console.WriteLine($"safetensors save {mb / save,8:0} MB/s   FileStream write {mb / write,8:0} MB/s   ratio {write / save:0.00}");
            Console.WriteLine($"safetensors load {mb / load,8:0} MB/s   FileStream read  {mb / read,8:0} MB/s   ratio {read / load:0.00}");

            string src = FashionMnist.FindFile(FashionMnist.DebianFolder, Split.Train, true) ?? "";
            if (File.Exists(src))
            {
                double idx = Time(() => Idx.Read(src));
                double gz = Time(() => { using var g = new GZipStream(File.OpenRead(src), CompressionMode.Decompress); g.CopyTo(Stream.Null); });
                Console.WriteLine($"IDX read (60,000 images, gzip) {idx * 1e3:0} ms   GZipStream alone {gz * 1e3:0} ms   ratio {gz / idx:0.00}");
            }
            foreach (var t in tensors.Values) t.Dispose();
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
