using Tessera.Runtime;
namespace Tessera.Training.Distributed;

/// <summary>
/// Makes every rank hold rank 0's weights and checks it: the state tensors (parameters and buffers) of the modules are
/// broadcast from rank 0, then each rank's <see cref="Checksum"/> is gathered and compared.
/// </summary>
internal static class ReplicaCheck
{
    /// <summary>
    /// Broadcasts the state of <paramref name="modules"/> from rank 0 and verifies that every rank then holds the same
    /// bytes. Returns whether the ranks already agreed before the broadcast (a resumed run must: every rank read the
    /// same checkpoint).
    /// </summary>
    /// <exception cref="InvalidOperationException">The ranks differ after the broadcast.</exception>
    public static bool Synchronise(ICommunicator communicator, params torch.nn.Module?[] modules)
    {
        var tensors = modules.Where(m => m is not null).SelectMany(m => m!.state_dict().Values).ToList();
        if (communicator.Size == 1) return true;
        bool agreed = communicator.AllGather((long)Checksum(tensors)).Distinct().Count() == 1;
        using (torch.no_grad())
            foreach (var t in tensors)
            {
                if (t.is_contiguous())
                {
                    communicator.Broadcast(t);
                    continue;
                }
                using var c = t.contiguous();
                communicator.Broadcast(c);
                t.copy_(c);
            }
        var after = communicator.AllGather((long)Checksum(tensors));
        if (after.Distinct().Count() != 1)
            throw new InvalidOperationException($"the ranks' weights differ after broadcasting rank 0's (checksums {string.Join(", ", after.Select(c => ((ulong)c).ToString("x16")))})");
        return agreed;
    }

    // SplitMix64's output function (Steele, Lea and Flood 2014); a copy, so this namespace does not depend on Tessera.Training.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A 64-bit hash of the tensors' bytes in order (SplitMix64's finaliser over 8-byte words).</summary>
    public static unsafe ulong Checksum(IEnumerable<torch.Tensor> tensors)
    {
        ulong h = 0x9E3779B97F4A7C15UL;
        foreach (var t in tensors)
        {
            using var host = t.detach().cpu().contiguous();
            long bytes = host.numel() * host.element_size();
            byte* p = (byte*)TensorMemory.Pointer(host);
            long i = 0;
            for (; i + 8 <= bytes; i += 8) h = Mix(h ^ *(ulong*)(p + i));
            for (; i < bytes; i++) h = Mix(h ^ p[i]);
            h = Mix(h ^ (ulong)bytes);
        }
        return h;
    }
}
