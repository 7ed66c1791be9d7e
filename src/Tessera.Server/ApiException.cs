namespace Tessera.Server;

/// <summary>A request the server refuses, with the HTTP status and the one-line message of the JSON body.</summary>
public sealed class ApiException(int status, string message, string? code = null) : Exception(message)
{
    /// <summary>HTTP status code.</summary>
    public int Status { get; } = status;

    /// <summary>Machine-readable reason (e.g. <c>evicted</c>), or null.</summary>
    public string? Code { get; } = code;

    /// <summary>A 400 Bad Request.</summary>
    public static ApiException BadRequest(string message) => new(400, message);
}
