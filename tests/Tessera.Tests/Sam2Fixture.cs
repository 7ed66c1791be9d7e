namespace Tessera.Tests;

/// <summary>
/// tests/fixtures/sam2 in this checkout (README there): the tiny SAM 2.1 in the official checkpoint layout, the photo
/// and everything the official code recorded on it, read by the SAM 2 encoder, decoder, predictor, AMG and CLI tests.
/// </summary>
internal static class Sam2Fixture
{
    public static string Dir => Fixtures.Dir("sam2");

    public static string TinyCheckpoint => Path.Combine(Dir, "sam2.1_tiny.pt");

    public static string Photo => Path.Combine(Dir, "photo.png");

    public static readonly RecordedFixture Recorded = new(Dir, "sam2.1_tiny_io.bin");

    /// <summary>A recorded tensor.</summary>
    public static torch.Tensor Ref(string key) => Recorded.Ref(key);
}
