namespace Tessera.Tests;

/// <summary>The U-Net's and DiT's sinusoidal tables now come from Tessera.Positional.Sinusoidal.</summary>
public class SinusoidalTablesTests
{
    [Theory]
    [InlineData(3, 8)]
    [InlineData(4, 64)]
    [InlineData(14, 256)]
    [InlineData(16, 96)]
    public void DiT_sincos_table_is_bit_identical_to_the_MAE_formula_it_used(int grid, int dim)
    {
        // The previous code, written out: ωᵢ = 10000^(−i/(d/4)) in float64, [sin ‖ cos] per axis, columns then rows.
        int quarter = dim / 4;
        var omega = torch.pow(10000.0, -torch.arange(quarter, torch.ScalarType.Float64) / quarter);
        var ys = torch.arange(grid, dtype: torch.ScalarType.Float64).repeat_interleave(grid);
        var xs = torch.arange(grid, dtype: torch.ScalarType.Float64).repeat(grid);
        torch.Tensor Axis(torch.Tensor p) { var a = p.unsqueeze(1) * omega.unsqueeze(0); return torch.cat([a.sin(), a.cos()], 1); }
        var expected = torch.cat([Axis(xs), Axis(ys)], 1).to(torch.ScalarType.Float32);
        var table = DiT.SinCosTable(grid, dim);
        Assert.Equal(expected.shape, table.shape);
        Assert.True(expected.eq(table).all().item<bool>(), $"max difference {(expected - table).abs().max().item<float>()}");
    }

    [Fact]
    public void UNet_timestep_embedding_is_ddpms_cos_sin_table()
    {
        double[] ts = [-1.2, 0.0, 0.37, 5, 250, 999];
        const int dim = 32, half = dim / 2;
        var emb = UNet.TimestepEmbedding(torch.tensor(ts.Select(v => (float)v).ToArray()), dim);
        Assert.Equal(new long[] { ts.Length, dim }, emb.shape);
        var got = emb.data<float>().ToArray();
        for (int r = 0; r < ts.Length; r++)
        {
            double t = (float)ts[r];
            for (int i = 0; i < half; i++)
            {
                double w = Math.Pow(10000, -(double)i / half);
                Assert.Equal(Math.Cos(t * w), got[r * dim + i], 1e-6);
                Assert.Equal(Math.Sin(t * w), got[r * dim + half + i], 1e-6);
            }
        }
        // The float32 formula it replaces agrees to the float32 rounding of the angle (largest where t·ω is large).
        var freqs = torch.exp(-Math.Log(10000) * torch.arange(half, dtype: torch.ScalarType.Float32) / half);
        var args = torch.tensor(ts.Select(v => (float)v).ToArray()).unsqueeze(1) * freqs.unsqueeze(0);
        var old = torch.cat([args.cos(), args.sin()], 1);
        float diff = (old - emb).abs().max().item<float>();
        Assert.True(diff < 2e-5, $"{diff}"); // measured 8.6e-6, at t = 999
    }
}
