namespace Tessera.Training;

/// <summary>
/// Resumable training checkpoints in one safetensors file, written atomically: the model's state under
/// <c>model.</c>, an optional EMA copy under <c>ema.</c>, the optimiser's state as a byte tensor
/// <c>optimizer</c> (TorchSharp's own serialisation), and string metadata including <c>step</c>.
/// </summary>
public static class TrainingCheckpoint
{
    /// <summary>Writes the checkpoint.</summary>
    public static void Save(string path, torch.nn.Module model, torch.optim.Optimizer? optimizer, long step, IReadOnlyDictionary<string, string> metadata, torch.nn.Module? ema = null)
    {
        var tensors = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in model.state_dict()) tensors["model." + k] = v;
        if (ema is not null) foreach (var (k, v) in ema.state_dict()) tensors["ema." + k] = v;
        torch.Tensor? blob = null;
        if (optimizer is TorchSharp.Modules.OptimizerHelper helper)
        {
            using var ms = new MemoryStream();
            using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) helper.save_state_dict(w);
            blob = torch.tensor(ms.ToArray());
            tensors["optimizer"] = blob;
        }
        var meta = new Dictionary<string, string>(metadata, StringComparer.Ordinal) { ["step"] = step.ToString(CultureInfo.InvariantCulture) };
        try { SafeTensors.Save(path, tensors, meta); }
        finally { blob?.Dispose(); }
    }

    /// <summary>Reads the model (and, if given, EMA and optimiser) state; returns the step and the metadata.</summary>
    /// <exception cref="TesseraFormatException">The file is not a checkpoint of this model.</exception>
    public static (long Step, IReadOnlyDictionary<string, string> Metadata) Load(string path, torch.nn.Module model, torch.optim.Optimizer? optimizer = null, torch.nn.Module? ema = null)
    {
        using SafeTensorFile file = SafeTensors.Load(path);
        void Into(torch.nn.Module m, string prefix)
        {
            var part = Checkpoint.UpgradeLegacy(m, file.Tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value));
            var state = m.state_dict();
            Checkpoint.Validate(path, state, part);
            using (torch.no_grad()) foreach (var (k, v) in state) v.copy_(part[k]);
            Layers.InferenceCaches.Clear(m);
        }
        Into(model, "model.");
        if (ema is not null) Into(ema, "ema.");
        if (optimizer is TorchSharp.Modules.OptimizerHelper helper && file.Tensors.TryGetValue("optimizer", out var blob))
        {
            using var ms = new MemoryStream(blob.data<byte>().ToArray());
            using var r = new BinaryReader(ms);
            helper.load_state_dict(r);
        }
        long step = file.Metadata.TryGetValue("step", out string? s) && long.TryParse(s, CultureInfo.InvariantCulture, out long v0) ? v0 : 0;
        return (step, file.Metadata);
    }
}
