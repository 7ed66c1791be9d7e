using Tessera.Segmentation.Sam.Training;
using Tessera.Segmentation.Sam2.Modeling;
using Tessera.Segmentation.Sam2.Training;

namespace Tessera.Tests;

/// <summary>
/// The fine-tuning recipe on SAM 2 against the official code (tests/fixtures/sam2/train, README there): the tiny SAM 2.1 at
/// image size 256 on fixed random features, two objects of two rounds each through <see cref="SamDatasetTrainer.RoundLoss"/>;
/// the loss, the lowest-loss masks, a dozen parameters' gradients and their values after one AdamW step are the official
/// prompt encoder's, mask decoder's and MultiStepMultiMasksAndIous's.
/// </summary>
public sealed class Sam2FineTuneParityTests(ITestOutputHelper log)
{
    private static readonly RecordedFixture Reference = new(Path.Combine(Sam2Fixture.Dir, "train"), "train_ref.bin");

    private const int H = 48, W = 64;

    // The script's ellipse target, in the same float32 operations.
    private static torch.Tensor Ellipse(double cx, double cy, double rx, double ry)
    {
        var y = torch.arange(H, dtype: torch.ScalarType.Float32).view(H, 1).expand(H, W);
        var x = torch.arange(W, dtype: torch.ScalarType.Float32).view(1, W).expand(H, W);
        return ((x - cx) / rx).pow(2).add(((y - cy) / ry).pow(2)).le(1).to(torch.ScalarType.Float32);
    }

    [Fact]
    public void Loss_gradients_and_an_AdamW_step_match_the_official_code()
    {
        using var scope = torch.NewDisposeScope();
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(Sam2Fixture.Dir, "train", "train_ref_meta.json")));
        var root = meta.RootElement;
        using var tuned = new Sam2FineTunedModel(Sam2Model.Load(Sam2Fixture.TinyCheckpoint, imageSize: root.GetProperty("image_size").GetInt32()));
        tuned.Model.train();
        var features = new[] { "embedding", "level0", "level1" }.ToDictionary(k => k, k => Reference.Ref("features/" + k).clone());
        var kept = torch.arange(H * W, dtype: torch.ScalarType.Int64);
        var expectedBest = root.GetProperty("rounds").EnumerateArray().Select(r => r.GetProperty("best").GetInt32()).ToArray();
        var objects = new (double[] Ellipse, List<double[]> Coords, List<int> Labels, double[] Click, int ClickLabel)[]
        {
            ([30, 22, 14, 10], [[30, 22], [0, 0]], [1, -1], [12, 8], 0),
            ([44, 30, 12, 9], [[31, 20], [57, 40]], [2, 3], [50, 28], 1),
        };
        var total = torch.zeros(1).sum();
        int r = 0;
        foreach (var (ellipse, coords, labels, click, clickLabel) in objects)
        {
            var truth = Ellipse(ellipse[0], ellipse[1], ellipse[2], ellipse[3]).reshape(1, H * W);
            torch.Tensor? previous = null;
            var example = torch.zeros(1).sum();
            for (int round = 0; round < 2; round++)
            {
                if (round == 1)
                {
                    // As the recipe inserts a click: ahead of the padding point or the box corners.
                    int at = labels.FindIndex(v => v is -1 or 2);
                    coords.Insert(at, click);
                    labels.Insert(at, clickLabel);
                }
                var (loss, best, lowRes, _) = SamDatasetTrainer.RoundLoss(tuned, features, coords, labels, previous, round == 0, truth, kept, (H, W));
                Assert.Equal(expectedBest[r++], best);
                example = example + loss;
                previous = lowRes[.., best..(best + 1)].detach();
            }
            total = total + example / 2.0;
        }
        var mean = total / (double)objects.Length;
        mean.backward();
        double want = root.GetProperty("loss").GetDouble(), got = mean.item<float>();
        log.WriteLine($"loss {got:R} vs official {want:R} (relative {Math.Abs(got - want) / want:E2})");
        Assert.True(Math.Abs(got - want) <= 1e-5 * want, $"loss {got} vs {want}");

        var parameters = tuned.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var tracked = root.GetProperty("tracked").EnumerateArray().Select(e => e.GetString()!).ToList();
        foreach (var name in tracked) Reference.Close(log, parameters[name].grad!, "grad/" + name, rel: 1e-4);
        var trained = parameters.Where(p => p.Key.StartsWith("sam_prompt_encoder.", StringComparison.Ordinal) || p.Key.StartsWith("sam_mask_decoder.", StringComparison.Ordinal))
            .Select(p => p.Value).ToList();
        using var adamw = torch.optim.AdamW(trained, 1e-3, weight_decay: 0.1);
        adamw.step();
        foreach (var name in tracked) Reference.Close(log, parameters[name], "adamw/" + name, rel: 1e-5);
    }
}
