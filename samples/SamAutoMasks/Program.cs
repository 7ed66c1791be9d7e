// Segment Anything's automatic mask generator over a folder, written as the official scripts/amg.py writes it.
using Tessera.IO;
using Tessera.Runtime;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;
using TorchSharp;

var device = TorchRuntime.Configure(new RuntimeOptions()); // first: the process set-up
string checkpoint = args.Length > 0 ? args[0] : "tests/fixtures/sam/sam_tiny.pth";
string input = args.Length > 1 ? args[1] : "amg-input";
string output = args.Length > 2 ? args[2] : "amg-output";

if (!Directory.Exists(input))
{
    // Two small images with a few shapes, so the sample runs without data.
    Directory.CreateDirectory(input);
    for (int i = 0; i < 2; i++)
    {
        using var img = torch.full([3, 64, 64], 20, torch.ScalarType.Byte);
        img[.., (8 + 4 * i)..(30 + 4 * i), 10..34] = torch.tensor((byte)220);
        img[1, 36..58, (30 - 6 * i)..(60 - 6 * i)] = torch.tensor((byte)180);
        ImageIO.SavePng(img, Path.Combine(input, $"image{i}.png"));
    }
}

using var model = SamModel.Load(checkpoint, device);
using var predictor = new SamPredictor(model);
// amg.py's defaults are 32 points per side; 8 keeps the sample quick.
var generator = new AutomaticMaskGenerator(predictor, new AmgOptions(PointsPerSide: 8, PointsPerBatch: 64));
// Per image NAME: NAME/0.png, 1.png, … and NAME/metadata.csv (AmgOutput.CocoRleJson writes NAME.json with COCO RLEs).
var run = new AutomaticMaskRun(generator, AmgOutput.PngFolder);
var result = run.Run(input, output, progress: new InlineProgress<AmgRunProgress>(p => Console.WriteLine($"{p.Handled}/{p.Assigned} {p.Image} {p.Outcome}")));
var summary = result.Summary;
Console.WriteLine($"{summary.Done} images done, {summary.Skipped} already there, {summary.Failed.Count} failed, {result.Masks} masks in {output}");
return summary.Failed.Count == 0 ? 0 : 1;
