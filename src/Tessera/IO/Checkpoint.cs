namespace Tessera.IO;

/// <summary>
/// Module weights to and from safetensors, with strict checking on load: every tensor the module
/// expects must be present with the same shape, and nothing else may be in the file (unless
/// allowed), so a checkpoint of another model is a clear error instead of silent garbage.
/// </summary>
public static class Checkpoint
{
    /// <summary>Saves a module's state dict (parameters and buffers) with optional metadata, atomically.</summary>
    public static void Save(torch.nn.Module module, string path, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensors.Save(path, module.state_dict(), metadata);

    /// <summary>
    /// Checks <paramref name="tensors"/> against <paramref name="expected"/>: names missing, names not
    /// expected (unless <paramref name="allowExtra"/>), and shape or dtype mismatches, all listed in one message.
    /// </summary>
    /// <exception cref="TesseraFormatException">Any mismatch.</exception>
    public static void Validate(string path, IReadOnlyDictionary<string, torch.Tensor> expected, IReadOnlyDictionary<string, torch.Tensor> tensors, bool allowExtra = false)
    {
        var problems = new List<string>();
        var missing = expected.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
        if (missing.Count > 0) problems.Add($"missing tensor{(missing.Count > 1 ? "s" : "")} {Names(missing)}");
        if (!allowExtra)
        {
            var extra = tensors.Keys.Where(k => !expected.ContainsKey(k)).ToList();
            if (extra.Count > 0) problems.Add($"unexpected tensor{(extra.Count > 1 ? "s" : "")} {Names(extra)}");
        }
        foreach (var (name, want) in expected)
        {
            if (!tensors.TryGetValue(name, out var got)) continue;
            if (!want.shape.SequenceEqual(got.shape))
                problems.Add($"'{name}' has shape [{string.Join(", ", got.shape)}], expected [{string.Join(", ", want.shape)}]");
            else if (want.dtype != got.dtype && !(want.is_floating_point() && got.is_floating_point()))
                problems.Add($"'{name}' has dtype {got.dtype}, expected {want.dtype}");
        }
        if (problems.Count > 0) throw new TesseraFormatException(path, "checkpoint does not fit the model: " + string.Join("; ", problems));
    }

    /// <summary>
    /// Lets every module of <paramref name="module"/> that implements <see cref="ILegacyTensors"/> (the module
    /// itself included) rewrite its entries of <paramref name="tensors"/> from an older checkpoint layout.
    /// </summary>
    /// <returns>The tensors, upgraded: a new dictionary; the tensors themselves are views of the originals.</returns>
    public static Dictionary<string, torch.Tensor> UpgradeLegacy(torch.nn.Module module, IReadOnlyDictionary<string, torch.Tensor> tensors)
    {
        var result = new Dictionary<string, torch.Tensor>(tensors, StringComparer.Ordinal);
        if (module is ILegacyTensors self) self.UpgradeLegacyTensors(result, "");
        foreach (var (name, child) in module.named_modules())
            if (child is ILegacyTensors legacy) legacy.UpgradeLegacyTensors(result, name + ".");
        return result;
    }

    private static string Names(List<string> names) =>
        string.Join(", ", names.Take(5).Select(n => $"'{n}'")) + (names.Count > 5 ? $" and {names.Count - 5} more" : "");

    /// <summary>
    /// Reads a PyTorch checkpoint written by <c>torch.save(state_dict)</c> (the zip container with a pickled
    /// dict of tensors, as torchvision's and Segment Anything's official .pth files are), through
    /// TorchSharp.PyBridge's unpickler. A dict nested under "state_dict" or "model" is unwrapped. Every zip entry is
    /// checked first against the CRC-32 the archive states, so a damaged file is refused rather than read as wrong weights.
    /// </summary>
    /// <exception cref="TesseraFormatException">Not a readable PyTorch checkpoint, or an entry damaged (named in the message).</exception>
    public static Dictionary<string, torch.Tensor> ReadPyTorch(string path)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "file not found");
        if (ZipIntegrity.Check(path) is { } broken) throw new TesseraFormatException(path, broken);
        if (PickleScan.Check(path) is { } damage) throw new TesseraFormatException(path, $"not a readable PyTorch checkpoint ({damage})");
        System.Collections.Hashtable table;
        try
        {
            table = TorchSharp.PyBridge.PyTorchUnpickler.UnpickleStateDict(path);
        }
        catch (Exception e) when (e is not TesseraUserException)
        {
            // PyBridge and the Razorvine unpickler it drives are a parser of untrusted bytes that throws whatever its
            // damaged input provokes (pickle, cast, index, not-implemented and out-of-memory exceptions were all seen in
            // fuzzing): each is this file's fault, and the user's answer is the same.
            throw new TesseraFormatException(path, $"not a readable PyTorch checkpoint ({e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")})", e);
        }
        foreach (string wrapper in new[] { "state_dict", "model" })
            if (table.Count == 1 && table[wrapper] is System.Collections.Hashtable inner) table = inner;
        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in table)
        {
            string? problem = e.Value is not torch.Tensor ? $"entry '{e.Key}' is not a tensor (a full training checkpoint? save the model's state_dict)"
                : e.Key is not string ? $"key {e.Key} is not a string" : null;
            if (problem is not null)
            {
                foreach (System.Collections.DictionaryEntry d in table) (d.Value as torch.Tensor)?.Dispose();
                throw new TesseraFormatException(path, problem);
            }
            result[(string)e.Key] = (torch.Tensor)e.Value!;
        }
        return result;
    }

    /// <summary>Reads tensors from a .safetensors or a PyTorch .pth/.pt file, by content.</summary>
    public static Dictionary<string, torch.Tensor> ReadAny(string path)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "file not found");
        Span<byte> head = stackalloc byte[2];
        using (var f = File.OpenRead(path)) _ = f.Read(head);
        if (head[0] == (byte)'P' && head[1] == (byte)'K') return ReadPyTorch(path);
        using var file = SafeTensors.Load(path);
        return file.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.clone());
    }

    /// <summary>Loads a .safetensors or PyTorch state-dict file into a module, strictly (all names and shapes must match).</summary>
    public static void LoadAny(torch.nn.Module module, string path, bool allowExtra = false)
    {
        var tensors = ReadAny(path);
        try
        {
            var state = module.state_dict();
            var upgraded = UpgradeLegacy(module, tensors);
            Validate(path, state, upgraded, allowExtra);
            using (torch.no_grad())
                foreach (var (name, target) in state) target.copy_(upgraded[name]);
            Layers.InferenceCaches.Clear(module);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Loads a safetensors checkpoint into a module (copying into its existing tensors, on their device).</summary>
    /// <returns>The file's metadata.</returns>
    /// <exception cref="TesseraFormatException">The file is malformed or does not fit the module.</exception>
    public static IReadOnlyDictionary<string, string> Load(torch.nn.Module module, string path, bool allowExtra = false)
    {
        using SafeTensorFile file = SafeTensors.Load(path);
        var state = module.state_dict();
        var tensors = UpgradeLegacy(module, file.Tensors);
        Validate(path, state, tensors, allowExtra);
        using (torch.no_grad())
        {
            foreach (var (name, target) in state)
                target.copy_(tensors[name]);
        }
        Layers.InferenceCaches.Clear(module);
        return file.Metadata;
    }
}
