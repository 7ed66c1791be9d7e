namespace Tessera.Runtime.Sharding;

/// <summary>Where a shard's index and count came from.</summary>
public enum ShardSource
{
    /// <summary>No sharding: one shard holds everything.</summary>
    None,
    /// <summary>Given explicitly (e.g. "2/8").</summary>
    Explicit,
    /// <summary>A Kubernetes Indexed Job (<c>JOB_COMPLETION_INDEX</c>, with the count given separately).</summary>
    Kubernetes,
    /// <summary>A Slurm job array (<c>SLURM_ARRAY_TASK_ID</c>, <c>SLURM_ARRAY_TASK_MIN</c>, <c>SLURM_ARRAY_TASK_COUNT</c>).</summary>
    Slurm,
}

/// <summary>
/// One shard of an embarrassingly parallel batch job: shard <see cref="Index"/> of <see cref="Count"/>.
/// Items are dealt round-robin over the sorted item list (item k belongs to shard k mod N): the
/// assignment depends only on the sorted list and N, so a retried shard does exactly the same work, and
/// neighbouring items (which often cost alike: images from one camera, seeds of one class) are spread
/// evenly over the shards instead of piling up in one block.
/// </summary>
/// <param name="Index">Zero-based shard index, 0 ≤ Index &lt; Count.</param>
/// <param name="Count">Number of shards, at least 1.</param>
/// <param name="Source">Where the numbers came from.</param>
public sealed record Shard(int Index, int Count, ShardSource Source = ShardSource.Explicit)
{
    /// <summary>The whole job as one shard.</summary>
    public static Shard All { get; } = new(0, 1, ShardSource.None);

    /// <summary>Whether the job is split at all.</summary>
    public bool IsSharded => Count > 1;

    /// <summary>Whether item number <paramref name="position"/> of the sorted list belongs to this shard.</summary>
    public bool Owns(long position) => position % Count == Index;

    /// <summary>This shard's items, in their sorted order.</summary>
    public IEnumerable<T> Select<T>(IEnumerable<T> sortedItems) => sortedItems.Where((_, k) => Owns(k));

    /// <summary>"I/N" as it is written on the command line and in summaries.</summary>
    public override string ToString() => $"{Index}/{Count}";

    /// <summary>A one-line description for a verb's first line of output.</summary>
    public string Describe() => Source switch
    {
        ShardSource.None => "not sharded",
        ShardSource.Kubernetes => $"shard {this} from the Kubernetes Indexed Job (JOB_COMPLETION_INDEX)",
        ShardSource.Slurm => $"shard {this} from the Slurm job array (SLURM_ARRAY_TASK_ID)",
        _ => $"shard {this}",
    };

    /// <summary>Parses "I/N" (0 ≤ I &lt; N).</summary>
    /// <exception cref="TesseraUserException">The text is not of that form.</exception>
    public static Shard Parse(string text, string parameter = "Shard")
    {
        var parts = text.Split('/');
        if (parts.Length != 2
            || !int.TryParse(parts[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            || !int.TryParse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            throw new TesseraUserException(parameter, $"'{text}' is not a shard; expected I/N such as 0/8");
        if (n < 1 || i >= n) throw new TesseraUserException(parameter, $"'{text}': expected 0 ≤ I < N and N ≥ 1");
        return new Shard(i, n, ShardSource.Explicit);
    }

    /// <summary>
    /// The shard of this process: <paramref name="explicitShard"/> when given; otherwise a Kubernetes Indexed Job
    /// (<c>JOB_COMPLETION_INDEX</c> with <paramref name="shardCount"/>, which Kubernetes does not export) or a Slurm job
    /// array (<c>SLURM_ARRAY_TASK_ID</c> − <c>SLURM_ARRAY_TASK_MIN</c> of <c>SLURM_ARRAY_TASK_COUNT</c>); otherwise <see cref="All"/>.
    /// </summary>
    /// <param name="explicitShard">"I/N" or null.</param>
    /// <param name="shardCount">The job's completions count (Kubernetes), or null.</param>
    /// <param name="environment">Environment variables (null: this process's).</param>
    public static Shard Resolve(string? explicitShard, int? shardCount = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        if (explicitShard is not null) return Parse(explicitShard);
        string? Env(string name) => environment is null ? Environment.GetEnvironmentVariable(name)
            : environment.TryGetValue(name, out var v) ? v : null;
        int EnvInt(string name, string value) => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int x)
            ? x : throw new TesseraUserException($"environment variable {name}: '{value}' is not an integer");

        if (Env("JOB_COMPLETION_INDEX") is { Length: > 0 } k8s)
        {
            if (shardCount is null)
                throw new TesseraUserException("ShardCount", "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but the shard count is not given (the Job's completions)");
            int index = EnvInt("JOB_COMPLETION_INDEX", k8s);
            if (shardCount < 1 || index < 0 || index >= shardCount)
                throw new TesseraUserException($"JOB_COMPLETION_INDEX {index} is not below the shard count {shardCount}");
            return new Shard(index, shardCount.Value, ShardSource.Kubernetes);
        }
        if (Env("SLURM_ARRAY_TASK_ID") is { Length: > 0 } slurm)
        {
            int id = EnvInt("SLURM_ARRAY_TASK_ID", slurm);
            int min = Env("SLURM_ARRAY_TASK_MIN") is { Length: > 0 } m ? EnvInt("SLURM_ARRAY_TASK_MIN", m) : 0;
            int count = shardCount ?? (Env("SLURM_ARRAY_TASK_COUNT") is { Length: > 0 } c ? EnvInt("SLURM_ARRAY_TASK_COUNT", c)
                : throw new TesseraUserException("ShardCount", "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; give the shard count"));
            int index = id - min;
            if (count < 1 || index < 0 || index >= count)
                throw new TesseraUserException($"SLURM_ARRAY_TASK_ID {id} (minimum {min}) is not within {count} array tasks; make the job array a contiguous range such as 0-{count - 1}");
            return new Shard(index, count, ShardSource.Slurm);
        }
        return All;
    }
}
