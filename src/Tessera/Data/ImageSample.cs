namespace Tessera.Data;

/// <summary>A seeded random choice of images from Fashion-MNIST or an image folder, as one batch (what <c>tessera data grid</c> shows).</summary>
public static class ImageSample
{
    /// <summary><paramref name="count"/> images of <paramref name="folder"/> in a random order from <paramref name="seed"/>, [N, C, S, S] on <paramref name="device"/>; <paramref name="progress"/> gets the images read so far.</summary>
    public static torch.Tensor FromFolder(ImageFolder folder, int count, long seed, torch.Device device, IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        var tiles = new List<torch.Tensor>();
        foreach (long i in new SplitMix64((ulong)seed).Permutation(folder.Count).Take(count))
        {
            cancellation.ThrowIfCancellationRequested();
            tiles.Add(folder.Get((int)i));
            progress?.Report(tiles.Count);
        }
        return torch.stack(tiles).to(device);
    }

    /// <summary><paramref name="count"/> images of <paramref name="data"/> in a random order from <paramref name="seed"/>, [N, 1, 28, 28] on <paramref name="device"/>.</summary>
    public static torch.Tensor FromFashionMnist(FashionMnist data, int count, long seed, torch.Device device)
    {
        long[] pick = new SplitMix64((ulong)seed).Permutation(data.Count).Take(count).ToArray();
        return data.ImagesAsFloat(device).index_select(0, torch.tensor(pick, device: device));
    }
}
