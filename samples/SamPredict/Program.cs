// Segment Anything: load an official .pth, embed an image once, predict from a click and from a box.
using Tessera.IO;
using Tessera.Runtime;
using Tessera.Segmentation.Sam.Inference;
using Tessera.Segmentation.Sam.Modeling;
using TorchSharp;

var device = TorchRuntime.Configure(new RuntimeOptions()); // first: the process set-up
string checkpoint = args.Length > 0 ? args[0] : "tests/fixtures/sam/sam_tiny.pth"; // e.g. sam_vit_b_01ec64.pth
string output = args.Length > 1 ? args[1] : "sam-predict";
Directory.CreateDirectory(output);

// An image [3, H, W] bytes: a file (ImageIO.Load(path, ColorMode.Rgb)) or, here, a grey square on black.
using var rgb = torch.zeros([3, 96, 128], torch.ScalarType.Byte);
rgb[.., 30..70, 40..90] = torch.tensor((byte)200);

using var model = SamModel.Load(checkpoint, device); // the official weights, architecture from the keys
using var predictor = new SamPredictor(model);
predictor.SetImage(rgb); // the image encoder runs once here; every prompt below reuses its embedding

var prompts = new (string Name, SamPrompt Prompt)[]
{
    ("click", new SamPrompt(Points: [new SamPoint(64, 50)])),
    ("box", new SamPrompt(Box: new SamBox(38, 28, 92, 72))),
};
foreach (var (name, prompt) in prompts)
{
    using var prediction = predictor.Predict(prompt, multimask: true); // checks the prompt (TesseraUserException naming it); the caller disposes the masks
    int best = prediction.Best;
    var mask = prediction.Masks[best].to(torch.ScalarType.Byte).mul(255).unsqueeze(0);
    ImageIO.SavePng(mask, Path.Combine(output, $"{name}.png"));
    Console.WriteLine($"{name}: {prediction.Masks.shape[0]} masks, best predicted IoU {prediction.Scores[best]:F3}, {prediction.Masks[best].sum().item<long>()} pixels");
}
