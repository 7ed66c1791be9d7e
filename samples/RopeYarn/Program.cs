// RoPE with YaRN scaling, configured from a Hugging Face config's rope_scaling block.
using System.Text.Json.Nodes;
using Tessera.Positional;
using Tessera.Runtime;
using TorchSharp;

TorchRuntime.Configure(new RuntimeOptions()); // first: the process set-up (threads, heap, device)

// As in a model's config.json (Qwen2.5 / DeepSeek style): head_dim 64, theta 10000, YaRN 4x from 4096 positions.
const string HfConfig = """
{ "head_dim": 64, "rope_theta": 10000.0,
  "rope_scaling": { "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096,
                    "beta_fast": 32, "beta_slow": 1 } }
""";
var json = JsonNode.Parse(HfConfig)!;
var scaling = json["rope_scaling"]!;
var config = new RopeConfig
{
    HeadDim = (int)json["head_dim"]!,
    Base = (double)json["rope_theta"]!,
    RopeType = Enum.Parse<RopeType>((string)scaling["rope_type"]!, ignoreCase: true),
    Factor = (double)scaling["factor"]!,
    OriginalMaxPositionEmbeddings = (int?)scaling["original_max_position_embeddings"],
    BetaFast = (double?)scaling["beta_fast"] ?? 32,
    BetaSlow = (double?)scaling["beta_slow"] ?? 1,
};
config.Validate();

// Frequencies and YaRN's attention factor (0.1·ln(s) + 1), then the cos/sin tables for 16 384 positions.
var (invFreq, attentionFactor) = Rope.InverseFrequencies(config);
using var scope = torch.NewDisposeScope(); // every tensor below is freed at the end of the scope
var positions = torch.arange(16_384L);
var (cos, sin) = Rope.CosSin(invFreq, positions, RopePairing.HalfSplit, attentionFactor);

// Queries [batch, heads, T, head_dim] rotated as Hugging Face's LLaMA does (rotate_half).
var q = torch.randn(1, 8, 16_384, config.HeadDim, generator: new torch.Generator(0));
var rotated = Rope.Apply(q, cos, sin, RopePairing.HalfSplit);

// RoPE is a rotation: each pair keeps its length, times the attention factor.
double ratio = (rotated.norm().item<float>() / q.norm().item<float>());
Console.WriteLine($"YaRN x{config.Factor}: {invFreq.Length} frequencies, attention factor {attentionFactor:F4}, |RoPE(q)|/|q| = {ratio:F4}");
if (Math.Abs(ratio - attentionFactor) > 1e-3) throw new InvalidOperationException("the rotation changed the norms");
