using Tessera.Segmentation.Sam2.Video;

namespace Tessera.Tests;

/// <summary>
/// A video session the official SAM2VideoPredictor recorded (tests/fixtures/sam2video: make_fixtures.py's
/// record_frame): each returned frame under TAG/FRAME with its object ids, masks (packed bits) and object scores.
/// Checks Tessera's results against it (issue #27: masks on ≥ 99.9 % of pixels, object scores within 1e-3) and keeps
/// the worst agreement, the worst score error and the scores seen. <paramref name="maskBar"/> and <paramref name="scoreBar"/>
/// loosen the bars for a bfloat16 image encoder (issue 28).
/// </summary>
internal sealed class Sam2VideoRecord(RecordedFixture recorded, double maskBar = 0.999, double scoreBar = 1e-3)
{
    public double WorstAgreement { get; private set; } = 1;
    public double WorstScore { get; private set; }
    /// <summary>The recorded (official) object scores of every checked object and frame that had an output.</summary>
    public List<float> Scores { get; } = [];

    public torch.Tensor Ref(string key) => recorded.Ref(key);

    /// <summary>Checks one frame's result (and disposes it).</summary>
    public void Check(string tag, Sam2VideoFrameResult r)
    {
        string key = $"{tag}/{r.FrameIndex}";
        var ids = Ref(key + "/obj_ids").data<long>().ToArray();
        Assert.Equal(ids.Select(i => (int)i), r.ObjectIds);
        var packed = Ref(key + "/masks");                    // [N, 1, H, W/8] big-endian bits
        var wantScores = Ref(key + "/scores").data<float>().ToArray();
        var got = r.MaskLogits.gt(0).cpu();
        long n = got.shape[0], h = got.shape[2], w = got.shape[3];
        var bits = packed.data<byte>().ToArray();
        var mine = got.to(torch.ScalarType.Byte).data<byte>().ToArray();
        for (int o = 0; o < n; o++)
        {
            long agree = 0;
            for (long y = 0; y < h; y++)
                for (long x = 0; x < w; x++)
                {
                    int bit = (bits[(o * h + y) * (w / 8) + x / 8] >> (7 - (int)(x % 8))) & 1;
                    if (bit == mine[(o * h + y) * w + x]) agree++;
                }
            double fraction = (double)agree / (h * w);
            WorstAgreement = Math.Min(WorstAgreement, fraction);
            Assert.True(fraction >= maskBar, $"{key} object {ids[o]}: masks agree on {fraction:P3} of pixels");
            if (float.IsNaN(wantScores[o])) Assert.True(float.IsNaN(r.ObjectScores[o]), $"{key} object {ids[o]}: score {r.ObjectScores[o]}, expected none");
            else
            {
                Scores.Add(wantScores[o]);
                double err = Math.Abs(r.ObjectScores[o] - wantScores[o]);
                WorstScore = Math.Max(WorstScore, err);
                Assert.True(err <= scoreBar, $"{key} object {ids[o]}: object score {r.ObjectScores[o]} vs {wantScores[o]}");
            }
        }
        r.Dispose();
    }

    /// <summary>Checks a propagation: the frames in <paramref name="frames"/>' order, each against TAG/FRAME.</summary>
    public void CheckAll(string tag, IEnumerable<Sam2VideoFrameResult> results, int[] frames)
    {
        var seen = new List<int>();
        foreach (var r in results)
        {
            seen.Add(r.FrameIndex);
            Check(tag, r);
        }
        Assert.Equal(frames, seen);
    }

    /// <summary>The largest |got − want| / max(1, max|want|) of an object's low-resolution logits over the frames.</summary>
    public static double LogitError(Sam2ObjectTrack track, Func<int, torch.Tensor> want, int frames)
    {
        double worst = 0;
        for (int t = 0; t < frames; t++)
        {
            var o = track.Conditioning.GetValueOrDefault(t) ?? track.NonConditioning[t];
            var w = want(t);
            worst = Math.Max(worst, (o.MaskLogits.cpu() - w).abs().max().item<float>() / Math.Max(1, w.abs().max().item<float>()));
        }
        return worst;
    }
}
