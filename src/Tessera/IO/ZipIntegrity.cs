namespace Tessera.IO;

/// <summary>
/// Every entry of a zip archive (a PyTorch <c>.pth</c>) against the CRC-32 its central directory states
/// (PKWARE APPNOTE 4.4.7). PyTorch writes its tensors as stored entries, and neither PyTorch's reader nor the
/// unpickler Tessera uses checks them, so a damaged byte in a weight would otherwise load as a wrong weight.
/// </summary>
internal static class ZipIntegrity
{
    /// <summary>Null when every entry's bytes have the CRC-32 the archive states, otherwise what is wrong, naming the entry.</summary>
    public static string? Check(string path)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            foreach (ZipArchiveEntry entry in zip.Entries)
            {
                if (entry.FullName.EndsWith('/')) continue; // a directory
                uint actual;
                try
                {
                    using var s = entry.Open();
                    actual = Crc32.Of(s);
                }
                catch (InvalidDataException e)
                {
                    // A runtime that checks the CRC itself, or an entry whose compressed data is broken.
                    return $"damaged PyTorch checkpoint: zip entry '{entry.FullName}' cannot be read ({e.Message})";
                }
                if (actual != entry.Crc32)
                    return $"damaged PyTorch checkpoint: zip entry '{entry.FullName}' has CRC-32 {actual:x8} but the archive states {entry.Crc32:x8}";
            }
            return null;
        }
        catch (InvalidDataException e) { return $"not a readable PyTorch checkpoint (not a readable zip archive: {e.Message})"; }
    }
}
