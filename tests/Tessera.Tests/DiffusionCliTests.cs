namespace Tessera.Tests;

public class DiffusionCliTests
{
    private static string Fixture(string rel) => Path.Combine(Fixtures.Dir("diffusion"), rel);

    [Fact]
    public void Analytic_heun_reproduces_the_edm_fixture_and_writes_the_contract()
    {
        using var dir = new TempDir();
        var (code, output) = CliTests.Run("diffusion", "analytic", "--mixture", Fixture("gmm2d.json"), "--noise", Fixture("noise_64x2.bin"),
            "--sampler", "heun", "--steps", "18", "--out", dir.File("samples.bin"), "--json", dir.File("result.json"));
        Assert.Equal(0, code);
        Assert.Contains("nfe 35", output);
        using var samples = RawArray.ReadFloat64(dir.File("samples.bin"));
        using var reference = RawArray.ReadFloat64(Fixture("edm_heun_deterministic_n18/x.bin"));
        Assert.True((samples - reference[18]).abs().max().item<double>() < 1e-10);
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("result.json")));
        var root = doc.RootElement;
        Assert.Equal("heun", root.GetProperty("sampler").GetString());
        Assert.Equal(18, root.GetProperty("steps").GetInt32());
        Assert.Equal(35, root.GetProperty("nfe").GetInt32());
        Assert.InRange(root.GetProperty("rmse_vs_ode").GetDouble(), 1e-4, 1);
        Assert.InRange(root.GetProperty("sw2").GetDouble(), 0, 2);
    }

    [Fact]
    public void Same_seed_gives_the_same_stochastic_samples_bit_for_bit()
    {
        using var dir = new TempDir();
        string[] Args(string o, long seed) => ["diffusion", "analytic", "--sampler", "dpmpp_2m_sde", "--steps", "10", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", dir.File(o), "-q"];
        Assert.Equal(0, CliTests.Run(Args("a.bin", 3)).Code);
        Assert.Equal(0, CliTests.Run(Args("b.bin", 3)).Code);
        Assert.Equal(0, CliTests.Run(Args("c.bin", 4)).Code);
        Assert.Equal(File.ReadAllBytes(dir.File("a.bin")), File.ReadAllBytes(dir.File("b.bin")));
        Assert.NotEqual(File.ReadAllBytes(dir.File("a.bin")), File.ReadAllBytes(dir.File("c.bin")));
    }

    [Fact]
    public void Bad_mixtures_noise_and_options_exit_2()
    {
        using var dir = new TempDir();
        void Mixture(string name, string json) => File.WriteAllText(dir.File(name), json);
        Mixture("neg.json", "{\"dim\":1,\"weights\":[1.5,-0.5],\"stds\":[1,1],\"means\":[[0],[1]]}");
        Mixture("sum.json", "{\"dim\":1,\"weights\":[0.5,0.4],\"stds\":[1,1],\"means\":[[0],[1]]}");
        Mixture("dims.json", "{\"dim\":2,\"weights\":[1],\"stds\":[1],\"means\":[[0]]}");
        Mixture("ok.json", "{\"dim\":2,\"weights\":[1],\"stds\":[1],\"means\":[[0,0]]}");
        using (var n = TorchSharp.torch.zeros(5, 3, dtype: TorchSharp.torch.ScalarType.Float64)) RawArray.WriteFloat64(dir.File("n3.bin"), n);
        using (var n = TorchSharp.torch.zeros(5, 2, dtype: TorchSharp.torch.ScalarType.Float64)) RawArray.WriteFloat64(dir.File("n2.bin"), n);
        File.WriteAllBytes(dir.File("n2.bin"), File.ReadAllBytes(dir.File("n2.bin"))[..^8]);

        foreach (var (args, mention) in new (string[], string)[]
        {
            (["--mixture", dir.File("neg.json")], "weights[1]"),
            (["--mixture", dir.File("sum.json")], "sum to"),
            (["--mixture", dir.File("dims.json")], "means[0]"),
            (["--mixture", dir.File("ok.json"), "--noise", dir.File("n3.bin")], "expected [N, 2]"),
            (["--mixture", dir.File("ok.json"), "--noise", dir.File("n2.bin")], "72 bytes"),
            (["--sampler", "magic"], "--sampler: unknown 'magic'"),
            (["--grid", "wobbly"], "unknown grid"),
            (["--steps", "0"], "--steps"),
            (["--mixture", dir.File("missing.json")], "missing.json"),
        })
        {
            var (code, output) = CliTests.Run(["diffusion", "analytic", .. args]);
            Assert.True(code == 2, $"{string.Join(' ', args)} gave {code}: {output}");
            Assert.Contains(mention, output);
            Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
    }
}
