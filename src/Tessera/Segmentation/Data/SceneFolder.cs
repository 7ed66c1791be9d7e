namespace Tessera.Segmentation.Data;

/// <summary>Fashion-MNIST scenes as a dataset folder: <c>images/</c>, <c>labels/</c> and <c>instances/</c> PNGs named 00000.png … and <c>classes.txt</c>.</summary>
public static class SceneFolder
{
    /// <summary>Writes scenes 0 … <paramref name="count"/> − 1 of <paramref name="scenes"/> into <paramref name="folder"/>; <paramref name="progress"/> gets the scenes written so far.</summary>
    public static void Write(FashionMnistScenes scenes, string folder, int count, IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        foreach (string sub in new[] { "images", "labels", "instances" }) Directory.CreateDirectory(Path.Combine(folder, sub));
        for (int first = 0; first < count; first += 32)
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            int n = Math.Min(32, count - first);
            using var batch = scenes.Generate(first, n);
            for (int i = 0; i < n; i++)
            {
                string name = (first + i).ToString("00000", CultureInfo.InvariantCulture) + ".png";
                ImageIO.SavePng(batch.Images[i], Path.Combine(folder, "images", name));
                ImageIO.SavePng(batch.Labels[i].to(torch.ScalarType.Byte).unsqueeze(0), Path.Combine(folder, "labels", name));
                ImageIO.SavePng(batch.Instances[i].unsqueeze(0), Path.Combine(folder, "instances", name));
            }
            progress?.Report(first + n);
        }
        File.WriteAllLines(Path.Combine(folder, "classes.txt"), FashionMnistScenes.ClassNames);
    }
}
