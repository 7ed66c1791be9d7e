using Tessera.Applications;

namespace Tessera.Tests;

[Collection("serial")]
public class LengthBenchEncodingTests
{
    [Fact]
    public void Encoding_names_are_the_documented_ones_in_table_order_and_parse_back()
    {
        // The names tessera posenc bench --encodings documents, in the order of its table.
        string[] documented = ["none", "sinusoidal", "learned", "t5", "alibi", "rope", "rope-interpolation", "rope-ntk", "rope-yarn"];
        Assert.Equal(documented, LengthGeneralization.Encodings.Select(LengthGeneralization.Name));
        foreach (BenchEncoding e in LengthGeneralization.Encodings)
        {
            Assert.True(LengthGeneralization.TryParse(LengthGeneralization.Name(e), out var back));
            Assert.Equal(e, back);
        }
        Assert.False(LengthGeneralization.TryParse("RoPE", out _));
        Assert.False(LengthGeneralization.TryParse("xpos", out _));
    }

    [Fact]
    public void Posenc_bench_rejects_an_unknown_encoding_naming_the_flag()
    {
        var (code, output) = CliTests.Run("posenc", "bench", "--encodings", "rope,xpos");
        Assert.Equal(2, code);
        Assert.Contains("--encodings", output);
        Assert.Contains("xpos", output);
        Assert.Contains("rope-yarn", output);
    }
}
