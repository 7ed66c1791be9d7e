namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// What a MobileSAM checkpoint (<c>mobile_sam.pt</c> and other TinyViT SAMs) holds beyond the tensors a
/// <see cref="SamModel"/> state dict has: its encoder sizes, read from the shapes, and — in files saved by code
/// where TinyViT's <c>attention_bias_idxs</c> was a persistent buffer — the offset index tables, which must
/// equal the ones the window implies.
/// </summary>
internal static class MobileSamCheckpoint
{
    private const string IndexSuffix = ".attn.attention_bias_idxs";

    /// <summary>The TinyViT encoder sizes of the state dict <paramref name="tensors"/>.</summary>
    /// <exception cref="TesseraFormatException">A tensor the TinyViT layout needs is missing or misshaped.</exception>
    public static TinyVitConfig Encoder(string path, IReadOnlyDictionary<string, torch.Tensor> tensors)
    {
        try
        {
            return TinyVitConfig.FromWeights(key => tensors.TryGetValue(key, out var t) ? t.shape : null);
        }
        catch (FormatException e)
        {
            throw new TesseraFormatException(path, $"not a MobileSAM (TinyViT) checkpoint: {e.Message}");
        }
    }

    /// <summary>
    /// Checks and removes the <c>…attn.attention_bias_idxs</c> tables of <paramref name="tensors"/>, if any: each
    /// must be the window's offset index (<see cref="TinyVitAttention.OffsetIndex"/>), which the model derives
    /// itself; so such a file loads like one without them, and a table that disagrees is an error.
    /// </summary>
    /// <exception cref="TesseraFormatException">A table that is not the offset index of a square window.</exception>
    public static void CheckBiasIndexes(string path, Dictionary<string, torch.Tensor> tensors)
    {
        foreach (string key in tensors.Keys.Where(k => k.EndsWith(IndexSuffix, StringComparison.Ordinal)).ToList())
        {
            using var table = tensors[key];
            tensors.Remove(key);
            long n = table.shape.Length == 2 && table.shape[0] == table.shape[1] ? table.shape[0] : -1;
            int window = (int)Math.Round(Math.Sqrt(Math.Max(n, 0)));
            if (n < 1 || (long)window * window != n) throw new TesseraFormatException(path, $"'{key}' has shape [{string.Join(", ", table.shape)}], not a square window's [r², r²]");
            using var expected = TinyVitAttention.OffsetIndex(window);
            if (!table.to(torch.ScalarType.Int64).eq(expected).all().item<bool>())
                throw new TesseraFormatException(path, $"'{key}' is not the offset index of a {window} × {window} window");
        }
    }
}
