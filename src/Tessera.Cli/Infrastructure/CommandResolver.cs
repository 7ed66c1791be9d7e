namespace Tessera.Cli.Infrastructure;

/// <summary>
/// Spectre.Console.Cli's type registrar and resolver for one run: registered instances as given, commands made with
/// the run's <see cref="Ui"/>, anything else left to Spectre's default (a parameterless constructor).
/// </summary>
internal sealed class CommandResolver(Ui ui) : ITypeRegistrar, ITypeResolver
{
    private readonly Dictionary<Type, List<Func<object>>> _factories = [];

    /// <summary>The settings type of the command that ran (null before one is made); error messages map library parameters to its flags.</summary>
    public Type? SettingsType { get; private set; }

    public void Register(Type service, Type implementation)
    {
        if (service != implementation) Add(service, () => Resolve(implementation) ?? Activator.CreateInstance(implementation)!);
    }

    public void RegisterInstance(Type service, object implementation) => Add(service, () => implementation);

    public void RegisterLazy(Type service, Func<object> factory) => Add(service, factory);

    private void Add(Type service, Func<object> factory)
    {
        if (!_factories.TryGetValue(service, out var list)) _factories[service] = list = [];
        list.Add(factory);
    }

    public ITypeResolver Build() => this;

    public object? Resolve(Type? type)
    {
        if (type is null) return null;
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IEnumerable<>))
        {
            // Every registration of the element type (Spectre asks for help providers and interceptors this way).
            Type element = type.GetGenericArguments()[0];
            var all = _factories.TryGetValue(element, out var found) ? found.Select(f => f()).ToArray() : [];
            var array = Array.CreateInstance(element, all.Length);
            Array.Copy(all, array, all.Length);
            return array;
        }
        if (_factories.TryGetValue(type, out var factories)) return factories[^1]();
        for (Type? t = type; t is not null; t = t.BaseType)
        {
            if (!t.IsGenericType || t.GetGenericTypeDefinition() != typeof(TesseraCommand<>)) continue;
            object command = Activator.CreateInstance(type)!;
            t.GetProperty(nameof(TesseraCommand<GlobalSettings>.Ui), System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!.SetValue(command, ui);
            SettingsType = t.GetGenericArguments()[0];
            return command;
        }
        // Spectre's own commands (cli xmldoc, cli explain, version): constructor injection from the registrations.
        if (!type.IsAbstract && !type.IsInterface)
            foreach (var ctor in type.GetConstructors().OrderByDescending(c => c.GetParameters().Length))
            {
                // registered services only (no recursive construction)
                var args = ctor.GetParameters().Select(p => _factories.TryGetValue(p.ParameterType, out var f) ? f[^1]() : null).ToArray();
                if (args.All(a => a is not null)) return ctor.Invoke(args);
            }
        return null;
    }
}
