namespace Tessera.Cli.Infrastructure;

/// <summary>Settings of a shardable verb: <c>--shard I/N</c> and <c>--shard-count N</c> (each verb words its help itself); error messages name these flags for every such verb.</summary>
internal interface IShardSettings
{
    /// <summary>--shard I/N, or null for the scheduler's variables.</summary>
    string? Shard { get; }

    /// <summary>--shard-count N (a Kubernetes Indexed Job's completions).</summary>
    int? ShardCount { get; }
}
