using System.IO.Compression;

namespace Tessera.Tests;

/// <summary>
/// A damaged checkpoint is an error, not wrong weights: the fixture's official <c>sam_tiny.pth</c> with 64 bytes of
/// one weight entry zeroed (PyTorch and the unpickler load it without complaint) is refused naming the file and
/// the entry, through the library and through the command line.
/// </summary>
public sealed class CheckpointIntegrityTests
{
    private static string Pth => Path.Combine(Fixtures.Dir("sam"), "sam_tiny.pth");

    /// <summary>A copy of the fixture with 64 bytes zeroed in the middle of its largest tensor entry; that entry's name.</summary>
    private static string Damage(TempDir dir, out string entryName)
    {
        byte[] file = File.ReadAllBytes(Pth);
        byte[] content;
        using (var zip = new ZipArchive(new MemoryStream(file), ZipArchiveMode.Read))
        {
            var entry = zip.Entries.Where(e => e.FullName.Contains("/data/", StringComparison.Ordinal)).MaxBy(e => e.Length)!;
            entryName = entry.FullName;
            Assert.Equal(0, entry.CompressedLength - entry.Length); // stored, as torch.save writes tensors: its bytes are in the file as they are
            using var s = entry.Open();
            content = new byte[entry.Length];
            s.ReadExactly(content);
        }
        int at = file.AsSpan().IndexOf(content);
        Assert.True(at > 0);
        int middle = at + content.Length / 2 - 32;
        Assert.Contains(file.Skip(middle).Take(64), b => b != 0);
        Array.Clear(file, middle, 64);
        string path = dir.File("damaged.pth");
        File.WriteAllBytes(path, file);
        return path;
    }

    [Fact]
    public void A_zeroed_run_in_a_weight_entry_is_refused_naming_the_file_and_the_entry()
    {
        using var dir = new TempDir();
        string damaged = Damage(dir, out string entry);

        // Without the check the damage is silent: the unpickler reads the file and one weight comes out changed.
        var silent = TorchSharp.PyBridge.PyTorchUnpickler.UnpickleStateDict(damaged);
        var intact = Checkpoint.ReadPyTorch(Pth);
        int changed = silent.Keys.Cast<string>().Count(k => !Same.Tensors((torch.Tensor)silent[k]!, intact[k]));
        Assert.Equal(1, changed);
        foreach (System.Collections.DictionaryEntry e in silent) ((torch.Tensor)e.Value!).Dispose();
        foreach (var t in intact.Values) t.Dispose();

        var e1 = Assert.Throws<TesseraFormatException>(() => Checkpoint.ReadPyTorch(damaged));
        Assert.Contains("damaged.pth", e1.Message);
        Assert.Contains($"zip entry '{entry}'", e1.Message);
        Assert.Contains("CRC-32", e1.Message);
        using var model = new Tessera.Segmentation.Sam.Modeling.SamModel(SamFixtureTests.Tiny);
        var e2 = Assert.Throws<TesseraFormatException>(() => model.LoadWeights(damaged));
        Assert.Contains($"zip entry '{entry}'", e2.Message);

        // The intact file loads: every entry, written by PyTorch's zip writer, has the CRC-32 its archive states
        // (and its tensors equal the raw weights: PyTorchCheckpointTests).
        model.LoadWeights(Pth);
    }

    [Fact]
    public async Task The_command_line_exits_2_with_one_line_naming_the_entry()
    {
        using var dir = new TempDir();
        string damaged = Damage(dir, out string entry);
        using (var img = torch.zeros([3, 8, 8], torch.ScalarType.Byte)) ImageIO.SavePng(img, dir.File("image.png"));
        using var p = System.Diagnostics.Process.Start(CliErrorPathTests.Child("sam", "segment", "--checkpoint", damaged, "--image", dir.File("image.png"), "--point", "1,1", "--output", dir.File("m.png")))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token);
        await stdout;
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, p.ExitCode);
        Assert.Single(lines);
        Assert.StartsWith("tessera: error:", lines[0]);
        Assert.Contains("damaged.pth", lines[0]);
        Assert.Contains($"zip entry '{entry}'", lines[0]);
        Assert.False(File.Exists(dir.File("m.png")));
    }
}
