using System.Globalization;

namespace Tessera.Tests;

/// <summary>
/// Data-parallel training on dataset folders and with synchronised BatchNorm, under mpirun (two ranks, one thread each),
/// against the single-process computation it must equal (see <see cref="DataParallelTests"/> for the tolerances).
/// <list type="bullet">
/// <item>seg train --dataset: the loader cuts each step's batch into the R·A micro-batches of all ranks and each rank loads
/// its own, every sample augmented by (seed, step, position in the batch), so two ranks read exactly the batch of one
/// process; with per-rank BatchNorm the reference is that batch as two micro-batches.</item>
/// <item>sam train --dataset: no BatchNorm is trained and prompts are drawn per example from (seed, step, example), so the
/// reference is one process with the same batch and no accumulation at all.</item>
/// <item>sam eval: images (or chunks of 16 scenes) are dealt to the ranks and the per-unit sums merged exactly, so two
/// ranks report the single-process scores bit for bit.</item>
/// <item>--sync-bn: two ranks normalise with the statistics of the whole batch, so the reference is one process with the
/// whole batch and plain BatchNorm.</item>
/// </list>
/// </summary>
[Collection("serial")]
public class DataParallelDatasetTests
{
    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string[] SegVoc(string root, string outDir, int steps, params string[] extra) =>
        ["seg", "train", "--dataset", "voc", "--data-root", root, "--model", "fcn", "--width", "16", "--steps", N(steps), "--batch", "4",
         "--crop", "32", "--scale", "64,64", "--eval-every", "2", "--checkpoint-every", "1", "--loader-threads", "1", "--out", outDir, "--seed", "3", "-q", .. extra];

    [SkippableFact]
    public void Seg_train_on_a_dataset_on_two_ranks_then_resumed_on_one_equals_one_process()
    {
        MpiChild.Require();
        using var dir = new TempDir();
        string root = dir.File("voc");
        Directory.CreateDirectory(root);
        SegDatasetLayouts.WriteVoc(root); // 3 training and 2 validation images: each rank validates one
        string run = dir.File("split");
        // Steps 0–2 on two ranks (the evaluation at step 2 split over them), then step 3 in one process.
        var output = MpiChild.Ok(2, SegVoc(root, run, 4, "--stop-at", "3"));
        Assert.Contains("rank 1/2 from Open MPI", output);
        Assert.Contains("stopped before step 3", output);
        MpiChild.Ok(0, SegVoc(root, run, 4, "--resume", "--accumulate", "2"));
        MpiChild.Ok(0, SegVoc(root, dir.File("one"), 4, "--accumulate", "2"));
        DataParallelTests.SameWeights(dir.File("one"), run);
        DataParallelTests.SameCurve(dir.File("one"), run, evalTolerance: 1e-3);
        Assert.Empty(Directory.EnumerateFiles(run, "*.tmp", SearchOption.AllDirectories));
    }

    [SkippableFact]
    public void Sam_fine_tune_on_a_dataset_on_two_ranks_equals_one_process_with_the_same_batch()
    {
        MpiChild.Require();
        using var dir = new TempDir();
        var (ckpt, root) = SamFineTuneCliTests.Prepare(dir);
        string[] Train(string run) =>
            ["sam", "train", "--init", ckpt, "--dataset", "coco", "--data-root", root, "--split", "train", "--steps", "2", "--batch", "2", "--rounds", "2",
             "--lr", "1e-3", "--seed", "7", "--checkpoint-every", "1", "--out", run, "-q"];
        MpiChild.Ok(2, Train(dir.File("two")));
        // The reference takes both examples of each step in one micro-batch.
        MpiChild.Ok(0, Train(dir.File("one")));
        // One process sums the two examples' losses before the backward pass, two ranks after it: the last bits differ.
        DataParallelTests.SameWeights(dir.File("one"), dir.File("two"), optimizerBlob: false);
        DataParallelTests.SameCurve(dir.File("one"), dir.File("two"), evalTolerance: 0);
        Assert.True(File.Exists(Path.Combine(dir.File("two"), "model.safetensors")));
    }

    [SkippableFact]
    public void Sync_bn_on_two_ranks_equals_one_process_with_the_whole_batch_and_plain_batchnorm()
    {
        MpiChild.Require();
        using var dir = new TempDir();
        // GCN on a ResNet backbone: BatchNorm throughout and no dropout, so nothing but the statistics tie the examples together.
        string[] Seg(string run, params string[] extra) =>
            ["seg", "train", "--model", "gcn", "--k", "3", "--width", "16", "--steps", "3", "--batch", "4", "--eval-every", "3", "--eval-scenes", "64",
             "--out", run, "--seed", "5", "-q", .. extra];
        MpiChild.Ok(2, Seg(dir.File("sync"), "--sync-bn"));
        MpiChild.Ok(0, Seg(dir.File("one")));
        DataParallelTests.SameWeights(dir.File("one"), dir.File("sync"), tolerance: 1e-4, optimizerBlob: false);
        DataParallelTests.SameCurve(dir.File("one"), dir.File("sync"), evalTolerance: 1e-3);
    }

    [SkippableFact]
    public void Sam_eval_split_over_two_ranks_reports_exactly_the_single_process_scores()
    {
        MpiChild.Require();
        using var dir = new TempDir();
        var (ckpt, root) = SamFineTuneCliTests.Prepare(dir);
        string[] OnDataset(string json) => ["sam", "eval", "--checkpoint", ckpt, "--dataset", "coco", "--data-root", root, "--split", "train", "--clicks", "3", "--json", json, "-q"];
        var output = MpiChild.Ok(2, OnDataset(dir.File("two.json")));
        Assert.Single(output.Split('\n'), l => l.Contains(" objects in 2 images", StringComparison.Ordinal)); // rank 0 reports
        MpiChild.Ok(0, OnDataset(dir.File("one.json")));
        Assert.Equal(File.ReadAllText(dir.File("one.json")), File.ReadAllText(dir.File("two.json")));
        // Scenes: 40 in chunks of 16, 16 and 8 (rank 0 takes chunks 0 and 2, rank 1 chunk 1).
        string[] OnScenes = ["sam", "eval", "--checkpoint", ckpt, "--scenes", "40", "--clicks", "2", "-q"];
        static string Scores(string text) => text.Split('\n').Single(l => l.StartsWith("objects ", StringComparison.Ordinal));
        Assert.Equal(Scores(MpiChild.Ok(0, OnScenes)), Scores(MpiChild.Ok(2, OnScenes)));
    }
}
