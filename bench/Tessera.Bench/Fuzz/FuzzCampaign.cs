namespace Tessera.Bench.Fuzz;

/// <summary>One parser under attack: valid seed inputs, a mutator, and the call that parses the files of one input.</summary>
/// <param name="Name">The name on the command line (<c>fuzz NAME</c>).</param>
/// <param name="Seeds">Valid (or deliberately unusual) inputs: file name → bytes.</param>
/// <param name="Mutate">Derives a mutated input from a seed.</param>
/// <param name="Parse">Parses the input in a folder; returns the bytes of what it produced (for the allocation budget).</param>
public sealed record FuzzTarget(string Name, IReadOnlyList<Dictionary<string, byte[]>> Seeds,
    Func<Random, Dictionary<string, byte[]>, Dictionary<string, byte[]>> Mutate, Func<string, long> Parse);

/// <summary>A violation of the property, grouped by kind and place.</summary>
public sealed record FuzzFinding(string Key, string Detail, int Count, string? SavedTo);

/// <summary>The tally of one campaign.</summary>
public sealed record FuzzReport(string Target, int Inputs, int Accepted, int Rejected, IReadOnlyList<FuzzFinding> Findings, TimeSpan Elapsed, long WorstAllocation, TimeSpan WorstTime);

/// <summary>
/// Runs mutated inputs through a parser and checks the property every parser of user files must have: it either
/// succeeds or throws <see cref="TesseraUserException"/> (incl. <see cref="TesseraFormatException"/>) whose message names
/// the file; never another exception type, never more than 5 s, never managed allocation beyond a few times the input and
/// output sizes (GC bytes of the parsing thread; native allocations of libtorch and Skia are not seen).
/// </summary>
public static class FuzzCampaign
{
    /// <summary>Per-input time budget.</summary>
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(5);

    /// <summary>Runs <paramref name="count"/> inputs from <paramref name="seed"/>; findings' first inputs are saved under <paramref name="findingsDir"/> if given.</summary>
    public static FuzzReport Run(FuzzTarget target, int count, int seed, string? findingsDir = null, Action<int>? progress = null)
    {
        var random = new Random(seed);
        string dir = Directory.CreateTempSubdirectory($"tessera-fuzz-{target.Name}-").FullName;
        var findings = new Dictionary<string, (string Detail, int Count, string? Saved)>();
        int accepted = 0, rejected = 0, processed = 0;
        long worstAlloc = 0;
        var worstTime = TimeSpan.Zero;
        var total = Stopwatch.StartNew();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var seedInput = target.Seeds[random.Next(target.Seeds.Count)];
                // One in sixteen inputs is an unmutated seed, so seeds themselves are checked too.
                var input = i % 16 == 0 ? seedInput : target.Mutate(random, seedInput);
                foreach (var f in Directory.GetFiles(dir)) File.Delete(f);
                foreach (var d in Directory.GetDirectories(dir)) Directory.Delete(d, recursive: true);
                foreach (var (name, bytes) in input)
                {
                    // names may hold a folder (a dataset layout such as annotations/instances_val.json)
                    string path = Path.Combine(dir, name);
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    File.WriteAllBytes(path, bytes);
                }
                long inputBytes = input.Values.Sum(b => (long)b.Length);

                long allocated = 0, produced = 0;
                Exception? error = null;
                var sw = Stopwatch.StartNew();
                var task = Task.Factory.StartNew(() =>
                {
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    try { produced = target.Parse(dir); }
                    catch (Exception e) { error = e; }
                    allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                bool finished = task.Wait(Budget);
                sw.Stop();
                string? problem = null, key = null;
                if (!finished)
                {
                    key = "hang";
                    problem = $"no result after {Budget.TotalSeconds} s";
                }
                else
                {
                    if (sw.Elapsed > worstTime) worstTime = sw.Elapsed;
                    if (allocated > worstAlloc) worstAlloc = allocated;
                    long allowance = 8 * (inputBytes + produced) + (4 << 20);
                    if (error is null) accepted++;
                    else if (error is TesseraUserException ue)
                    {
                        rejected++;
                        if (!input.Keys.Concat(seedInput.Keys).Any(n => ue.Message.Contains(n, StringComparison.Ordinal)))
                        {
                            key = "message does not name the file";
                            problem = ue.Message;
                        }
                    }
                    else
                    {
                        key = $"{error.GetType().FullName} at {TopFrame(error)}";
                        problem = error.Message;
                    }
                    if (key is null && sw.Elapsed > Budget)
                    {
                        key = "slow";
                        problem = $"{sw.Elapsed.TotalSeconds:0.0} s";
                    }
                    if (key is null && allocated > allowance)
                    {
                        key = "allocation";
                        problem = $"{allocated:N0} bytes allocated for {inputBytes:N0} input and {produced:N0} output bytes";
                    }
                }
                if (key is not null)
                {
                    if (!findings.TryGetValue(key, out var f))
                    {
                        string? saved = null;
                        if (findingsDir is not null)
                        {
                            saved = Path.Combine(findingsDir, target.Name, $"{findings.Count:000}");
                            Directory.CreateDirectory(saved);
                            foreach (var (name, bytes) in input)
                            {
                                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(saved, name))!);
                                File.WriteAllBytes(Path.Combine(saved, name), bytes);
                            }
                            File.WriteAllText(Path.Combine(saved, "finding.txt"), $"{key}\n{problem}\n{error}");
                        }
                        f = (problem!, 0, saved);
                    }
                    findings[key] = (f.Detail, f.Count + 1, f.Saved);
                    if (!finished) break; // a thread still runs the parser: stop here
                }
                processed = i + 1;
                progress?.Invoke(processed);
            }
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return new FuzzReport(target.Name, processed, accepted, rejected, [.. findings.Select(kv => new FuzzFinding(kv.Key, kv.Value.Detail, kv.Value.Count, kv.Value.Saved))], total.Elapsed, worstAlloc, worstTime);
    }

    private static string TopFrame(Exception e)
    {
        var frames = new StackTrace(e, false).GetFrames();
        var frame = frames.FirstOrDefault(f => f.GetMethod()?.DeclaringType?.Namespace?.StartsWith("Tessera", StringComparison.Ordinal) == true && f.GetMethod()?.DeclaringType?.Namespace != typeof(FuzzCampaign).Namespace)
            ?? frames.FirstOrDefault();
        var m = frame?.GetMethod();
        return m is null ? "?" : $"{m.DeclaringType?.Name}.{m.Name}";
    }
}
