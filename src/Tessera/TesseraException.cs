namespace Tessera;

/// <summary>
/// A problem with what the user supplied (a file, an option, a value), as opposed to a fault in
/// Tessera or the machine. Its message is one line that names the file or parameter and says what
/// was expected; the command line maps it to exit code 2 without a stack trace, and shows a
/// <see cref="Parameter"/> as the command-line flag that sets it.
/// </summary>
public class TesseraUserException : Exception
{
    /// <summary>Creates the exception with a one-line message.</summary>
    public TesseraUserException(string message) : base(message) => Detail = message;

    /// <summary>Creates the exception with a one-line message and the underlying cause.</summary>
    public TesseraUserException(string message, Exception inner) : base(message, inner) => Detail = message;

    /// <summary>Creates the exception for a bad value of <paramref name="parameter"/> (a library parameter or property name); the message becomes "PARAMETER: what".</summary>
    public TesseraUserException(string parameter, string what) : base($"{parameter}: {what}") => (Parameter, Detail) = (parameter, what);

    /// <summary>Creates the exception for a bad value of <paramref name="parameter"/>, with the underlying cause.</summary>
    public TesseraUserException(string parameter, string what, Exception inner) : base($"{parameter}: {what}", inner) => (Parameter, Detail) = (parameter, what);

    /// <summary>The library parameter or property at fault (as in <c>nameof</c>), or null when the message names a file or nothing.</summary>
    public string? Parameter { get; }

    /// <summary>The message without the "PARAMETER: " prefix (the whole message when <see cref="Parameter"/> is null).</summary>
    public string Detail { get; }
}

/// <summary>A file that cannot be read as the format it claims to be (truncated, wrong magic, bad header, wrong shapes).</summary>
public class TesseraFormatException : TesseraUserException
{
    /// <summary>The file at fault.</summary>
    public string Path { get; }

    /// <summary>Creates the exception; the message becomes "PATH: what".</summary>
    public TesseraFormatException(string path, string what) : base($"{path}: {what}") => Path = path;

    /// <summary>Creates the exception with an underlying cause.</summary>
    public TesseraFormatException(string path, string what, Exception inner) : base($"{path}: {what}", inner) => Path = path;
}
