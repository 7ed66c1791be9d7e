using Tessera.Segmentation.Sam.Data;
using Tessera.Segmentation.Sam.Training;

namespace Tessera.Tests;

/// <summary><see cref="SamDatasetTrainer"/> on a dataset object of the caller's own class.</summary>
public sealed class SamDatasetTrainerTests
{
    /// <summary>A user's own dataset class: it serves the images of a set it was handed and counts what it is asked for.</summary>
    private sealed class CountingDataset(InstanceDataset inner) : InstanceDataset("counting dataset", inner.Categories)
    {
        public int Reads { get; private set; }

        public override int Count => inner.Count;

        public override InstanceImage this[int index]
        {
            get
            {
                Reads++;
                return inner[index];
            }
        }
    }

    private sealed class EmptyDataset() : InstanceDataset("empty dataset", [])
    {
        public override int Count => 0;

        public override InstanceImage this[int index] => throw new ArgumentOutOfRangeException(nameof(index));
    }

    private static SamDatasetTrainOptions Options(string checkpoint, string root) => new()
    {
        Init = checkpoint,
        Format = InstanceDatasetFormat.Coco,
        Root = root,
        Split = "train",
        FreezeEncoder = true,
        Rounds = 2,
        Training = SamDatasetTrainOptions.DefaultTraining with { Steps = 3, Batch = 2, LearningRate = 1e-3, Seed = 7 },
    };

    [Fact]
    public void A_dataset_object_trains_as_the_same_data_opened_from_its_folder()
    {
        using var dir = new TempDir();
        var (ckpt, root) = SamFineTuneCliTests.Prepare(dir);
        new SamDatasetTrainer(Options(ckpt, root)).Train(dir.File("folder"), resume: false);

        var mine = new CountingDataset(CocoInstances.Open(root, "train"));
        // The root the options name does not exist: the trainer reads only the object it was given.
        new SamDatasetTrainer(mine, Options(ckpt, dir.File("nowhere"))).Train(dir.File("object"), resume: false);

        Assert.True(mine.Reads >= 6, $"{mine.Reads} reads"); // 3 steps of 2 examples
        var fromFolder = SamFineTuneCliTests.Tensors(Path.Combine(dir.File("folder"), "model.safetensors"));
        var fromObject = SamFineTuneCliTests.Tensors(Path.Combine(dir.File("object"), "model.safetensors"));
        Assert.Equal(fromFolder.Keys.Order(), fromObject.Keys.Order());
        foreach (var (name, bytes) in fromFolder) Assert.True(bytes.AsSpan().SequenceEqual(fromObject[name]), $"{name} differs");
        var init = SamFineTuneCliTests.Tensors(ckpt);
        Assert.Contains(fromObject.Keys, k => k.StartsWith("mask_decoder.", StringComparison.Ordinal) && !init[k].AsSpan().SequenceEqual(fromObject[k]));
    }

    [Fact]
    public void An_empty_dataset_object_or_no_root_is_refused_by_name()
    {
        using var dir = new TempDir();
        TinySam.SaveSafetensors(dir.File("tiny.safetensors"));
        var e = Assert.Throws<TesseraUserException>(() => new SamDatasetTrainer(new EmptyDataset(), Options(dir.File("tiny.safetensors"), "")));
        Assert.Equal("dataset", e.Parameter);
        e = Assert.Throws<TesseraUserException>(() => new SamDatasetTrainer(Options(dir.File("tiny.safetensors"), "")));
        Assert.Equal(nameof(SamDatasetTrainOptions.Root), e.Parameter);
    }
}
