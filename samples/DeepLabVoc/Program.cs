// Fine-tunes DeepLabV3 on a folder in Pascal VOC's layout and predicts one image. Without a folder it writes a tiny
// VOC-layout set from Fashion-MNIST scenes (garments pasted on a canvas, 11 classes).
using Tessera.Data;
using Tessera.Imaging.Skia;
using Tessera.IO;
using Tessera.Runtime;
using Tessera.Segmentation.Data;
using Tessera.Segmentation.Inference;
using Tessera.Segmentation.Models;
using Tessera.Segmentation.Training;
using Tessera.Training;
using TorchSharp;

var device = TorchRuntime.Configure(new RuntimeOptions()); // first: the process set-up
ImageIO.Codec = new SkiaImageCodec(); // JPEG (VOC's JPEGImages); Tessera reads and writes PNG itself
string root = args.Length > 0 ? args[0] : "voc-tiny";
string run = args.Length > 1 ? args[1] : "deeplab-run";

if (VocDataset.FindRoot(root) is null) WriteTinyVoc(root, train: 32, val: 8);

var options = new SegDatasetTrainOptions
{
    // A small DeepLabV3 (ResNet-18 width 16); a real run: Depth 50, BaseWidth 64, SmallStem false, BackboneWeights = a torchvision .pth.
    Model = new SegModelConfig { Model = SegModelKind.DeepLabV3, Classes = 21, Depth = 18, BaseWidth = 16 },
    Training = SegDatasetTrainOptions.DefaultTraining with { Steps = 20, Batch = 4, EvalEvery = 20, CheckpointEvery = 20, Seed = 1 },
    Layout = DatasetLayout.Voc,
    Root = root,
    ScaleWidth = 64, ScaleHeight = 64, CropHeight = 64, CropWidth = 64,
    LoaderThreads = 1,
};
var trainer = new SegDatasetTrainer(options, device);
var score = trainer.Train(run, resume: false, new InlineProgress<TrainingProgress>(p => { if (p.Step % 5 == 0) Console.WriteLine($"step {p.Step}: loss {p.Loss:F3}"); }));
Console.WriteLine($"validation mIoU {score?.Metrics.MIoU:P1} on {score?.Images} images");

// Inference from the checkpoint: the caller disposes the model and every tensor it returns.
using var model = SegmentationModel.Load(Path.Combine(run, "checkpoint.safetensors"), device);
string image = Directory.GetFiles(Path.Combine(VocDataset.FindRoot(root)!, "JPEGImages"), "*.jpg").Order().First();
using var rgb = ImageIO.Load(image, ColorMode.Rgb);
using var labels = model.Predict(rgb); // [H, W] class indices
ImageIO.SavePng(labels.to(torch.ScalarType.Byte).unsqueeze(0), Path.Combine(run, "prediction.png"));
Console.WriteLine($"predicted {Path.GetFileName(image)}: classes {string.Join(",", labels.unique().output.data<long>().ToArray())}; wrote {Path.Combine(run, "prediction.png")}");

// VOCdevkit/VOC2012: JPEGImages/ID.jpg, SegmentationClass/ID.png (label per pixel), ImageSets/Segmentation/{train,val}.txt.
static void WriteTinyVoc(string root, int train, int val)
{
    string voc = Path.Combine(root, "VOCdevkit", "VOC2012");
    foreach (string d in new[] { "JPEGImages", "SegmentationClass", Path.Combine("ImageSets", "Segmentation") })
        Directory.CreateDirectory(Path.Combine(voc, d));
    var scenes = new FashionMnistScenes(FashionMnist.Load(Split.Train), new SceneOptions(Canvas: 64, Seed: 7));
    using var batch = scenes.Generate(0, train + val);
    var ids = new List<string>();
    for (int i = 0; i < train + val; i++)
    {
        string id = $"2007_{i:D6}";
        ids.Add(id);
        ImageIO.SaveJpeg(batch.Images[i], Path.Combine(voc, "JPEGImages", id + ".jpg"), quality: 95);
        ImageIO.SavePng(batch.Labels[i].to(torch.ScalarType.Byte).unsqueeze(0), Path.Combine(voc, "SegmentationClass", id + ".png"));
    }
    File.WriteAllLines(Path.Combine(voc, "ImageSets", "Segmentation", "train.txt"), ids[..train]);
    File.WriteAllLines(Path.Combine(voc, "ImageSets", "Segmentation", "val.txt"), ids[train..]);
}
