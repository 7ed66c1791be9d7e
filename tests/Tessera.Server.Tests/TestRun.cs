namespace Tessera.Server.Tests;

/// <summary>Process-wide settings of the test run, before any test.</summary>
internal static class TestRun
{
    /// <summary>The image codec, as the hosting application sets it at startup (JPEG uploads; Tessera reads PNG itself).</summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void SetImageCodec() => Tessera.IO.ImageIO.Codec = new Tessera.Imaging.Skia.SkiaImageCodec();
}
