// Scores a folder of predicted label PNGs against the ground truth: mIoU, aAcc, mAcc, mDice, mFscore, per class.
using Tessera.IO;
using Tessera.Runtime;
using Tessera.Segmentation.Metrics;
using TorchSharp;

TorchRuntime.Configure(new RuntimeOptions()); // first: the process set-up
string groundTruth = args.Length > 0 ? args[0] : "score-gt";
string predictions = args.Length > 1 ? args[1] : "score-pred";
const int Classes = 3;

if (!Directory.Exists(groundTruth))
{
    // Four 32×32 label maps and predictions that miss a 4-pixel band of class 2 (so the scores are known).
    Directory.CreateDirectory(groundTruth);
    Directory.CreateDirectory(predictions);
    for (int i = 0; i < 4; i++)
    {
        using var scope = torch.NewDisposeScope();
        var gt = torch.zeros([1, 32, 32], torch.ScalarType.Byte);
        gt[0, 8..24, 8..24] = torch.tensor((byte)1);
        gt[0, 12..20, 12..20] = torch.tensor((byte)2);
        var pred = gt.clone();
        pred[0, 12..20, 12..16] = torch.tensor((byte)1);
        ImageIO.SavePng(gt, Path.Combine(groundTruth, $"{i:D3}.png"));
        ImageIO.SavePng(pred, Path.Combine(predictions, $"{i:D3}.png"));
    }
}

// Pairs files by name; skipMissing: false makes a missing prediction an error rather than a skipped image.
var pairing = FolderEvaluation.Pair(groundTruth, predictions, skipMissing: false);
var confusion = FolderEvaluation.Evaluate(pairing.Pairs, new ConfusionOptions(Classes, IgnoreIndex: 255));
var metrics = SegmentationMetrics.Compute(confusion, ["background", "outer", "inner"]);
foreach (var c in metrics.PerClass)
    Console.WriteLine($"{c.Name,-10} IoU {c.IoU:P2}  Acc {c.Acc:P2}  Dice {c.Dice:P2}  F {c.Fscore:P2}");
Console.WriteLine($"{pairing.Pairs.Count} images: aAcc {metrics.AAcc:P2}  mIoU {metrics.MIoU:P2}  mAcc {metrics.MAcc:P2}  mDice {metrics.MDice:P2}");
// mmsegmentation's JSON report (as `tessera seg eval --out`).
File.WriteAllText("score-metrics.json", FolderEvaluation.ToJson(metrics, confusion, pairing.Pairs.Count));
