namespace Tessera.Server;

/// <summary>What every served model has: a checkpoint, a size, a device and a request queue (<c>GET /api/models</c> reports them).</summary>
public interface IModelService
{
    /// <summary>The model's queue.</summary>
    ModelQueue Queue { get; }

    /// <summary>The checkpoint path.</summary>
    string Checkpoint { get; }

    /// <summary>Parameters.</summary>
    long Parameters { get; }

    /// <summary>Device.</summary>
    string Device { get; }
}
