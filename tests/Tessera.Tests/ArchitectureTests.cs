using System.Collections.Immutable;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;

namespace Tessera.Tests;

/// <summary>
/// The library's shape as the project guide states it: no cycle among Tessera's namespaces (read from the compiled
/// assembly: base types, interfaces, fields, method signatures, locals and every type, method and field the IL of a
/// method body names), and every source file under <c>src/Tessera</c> in the namespace of its folder.
/// </summary>
public sealed partial class ArchitectureTests
{
    [Fact]
    public void Namespaces_of_the_library_have_no_cycle()
    {
        var graph = NamespaceGraph.Read(typeof(EnumNames).Assembly.Location);
        Assert.True(graph.Edges.Count > 20, $"only {graph.Edges.Count} namespace dependencies read; the reader is broken");
        var cycles = graph.Cycles();
        Assert.True(cycles.Count == 0, "namespace cycles:\n" + string.Join("\n", cycles.Select(graph.Describe)));
    }

    [Fact]
    public void The_reader_finds_references_made_only_in_method_bodies()
    {
        // SamModel reads and writes the checkpoint metadata of Tessera.Training inside its Load and Save bodies only;
        // no signature of Sam.Modeling names a type of Tessera.Training.
        var edge = ("Tessera.Segmentation.Sam.Modeling", "Tessera.Training");
        var graph = NamespaceGraph.Read(typeof(EnumNames).Assembly.Location);
        var signatures = NamespaceGraph.Read(typeof(EnumNames).Assembly.Location, bodies: false);
        Assert.Contains(edge, graph.Edges.Keys);
        Assert.DoesNotContain(edge, signatures.Edges.Keys);
        Assert.Contains(("Tessera.Segmentation.Sam.Inference", "Tessera.Segmentation.Sam.Modeling"), graph.Edges.Keys);
        Assert.DoesNotContain(("Tessera.Segmentation.Sam.Modeling", "Tessera.Segmentation.Sam.Inference"), graph.Edges.Keys);
        // A made-up cycle is found and named.
        var toy = new NamespaceGraph();
        toy.Add("A", "B", "A.X → B.Y");
        toy.Add("B", "C", "B.Y → C.Z");
        toy.Add("C", "A", "C.Z → A.X");
        toy.Add("C", "D", "C.Z → D.W");
        var cycle = Assert.Single(toy.Cycles());
        Assert.Equal(["A", "B", "C"], cycle);
        Assert.Contains("C → A (C.Z → A.X)", toy.Describe(cycle));
    }

    [Fact]
    public void Every_source_file_of_the_library_is_in_the_namespace_of_its_folder()
    {
        string root = Path.Combine(RepositoryRoot(), "src", "Tessera");
        var wrong = new List<string>();
        int files = 0;
        foreach (var file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            if (relative.StartsWith("bin/", StringComparison.Ordinal) || relative.StartsWith("obj/", StringComparison.Ordinal)) continue;
            files++;
            string folder = Path.GetDirectoryName(relative)!.Replace('/', '.').Replace('\\', '.');
            string expected = folder.Length == 0 ? "Tessera" : "Tessera." + folder;
            var declared = NamespaceDeclaration().Matches(File.ReadAllText(file)).Select(m => m.Groups[1].Value).Distinct().ToList();
            if (declared.Count == 0) wrong.Add($"src/Tessera/{relative}: no namespace declaration (expected {expected})");
            else if (declared.Any(d => d != expected)) wrong.Add($"src/Tessera/{relative}: namespace {string.Join(", ", declared)}, expected {expected}");
        }
        Assert.True(files > 100, $"only {files} source files found under {root}");
        Assert.True(wrong.Count == 0, $"{wrong.Count} files not in their folder's namespace:\n" + string.Join("\n", wrong));
    }

    [GeneratedRegex(@"^\s*namespace\s+([A-Za-z_][\w.]*)\s*[;{]", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    /// <summary>The folder holding Tessera.sln above the test's binaries.</summary>
    private static string RepositoryRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(Path.Combine(dir, "Tessera.sln"))) return dir;
        throw new Xunit.Sdk.XunitException($"no Tessera.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>Dependencies among the Tessera.* namespaces of one assembly, each edge with one example (type, how, type).</summary>
internal sealed class NamespaceGraph
{
    /// <summary>Edges (from, to) with an example reference.</summary>
    public Dictionary<(string From, string To), string> Edges { get; } = [];

    public void Add(string from, string to, string example)
    {
        if (from != to) Edges.TryAdd((from, to), example);
    }

    /// <summary>The strongly connected components with more than one namespace (Tarjan), each sorted, in sorted order.</summary>
    public List<List<string>> Cycles()
    {
        var next = Edges.Keys.GroupBy(e => e.From).ToDictionary(g => g.Key, g => g.Select(e => e.To).Order(StringComparer.Ordinal).ToList());
        var nodes = Edges.Keys.SelectMany(e => new[] { e.From, e.To }).Distinct().Order(StringComparer.Ordinal).ToList();
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var onStack = new HashSet<string>();
        var result = new List<List<string>>();
        void Visit(string v)
        {
            index[v] = low[v] = index.Count;
            stack.Push(v);
            onStack.Add(v);
            foreach (var w in next.GetValueOrDefault(v) ?? [])
            {
                if (!index.ContainsKey(w)) { Visit(w); low[v] = Math.Min(low[v], low[w]); }
                else if (onStack.Contains(w)) low[v] = Math.Min(low[v], index[w]);
            }
            if (low[v] != index[v]) return;
            var component = new List<string>();
            string x;
            do { x = stack.Pop(); onStack.Remove(x); component.Add(x); } while (x != v);
            if (component.Count > 1) result.Add([.. component.Order(StringComparer.Ordinal)]);
        }
        foreach (var v in nodes) if (!index.ContainsKey(v)) Visit(v);
        return [.. result.OrderBy(c => c[0], StringComparer.Ordinal)];
    }

    /// <summary>A cycle as its namespaces and the edges among them with their examples.</summary>
    public string Describe(List<string> component) =>
        "  {" + string.Join(", ", component) + "}:\n" + string.Join("\n", Edges
            .Where(e => component.Contains(e.Key.From) && component.Contains(e.Key.To))
            .OrderBy(e => e.Key.From, StringComparer.Ordinal).ThenBy(e => e.Key.To, StringComparer.Ordinal)
            .Select(e => $"    {e.Key.From} → {e.Key.To} ({e.Value})"));

    /// <summary>Reads the graph of the assembly at <paramref name="path"/>; <paramref name="bodies"/>: with the references inside method bodies.</summary>
    public static NamespaceGraph Read(string path, bool bodies = true)
    {
        using var stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        var md = pe.GetMetadataReader();
        var graph = new NamespaceGraph();
        var names = new TypeNames(md);
        foreach (var handle in md.TypeDefinitions)
        {
            var def = md.GetTypeDefinition(handle);
            var (ns, name) = names.Of(handle);
            if (!IsTessera(ns)) continue;
            string from = $"{ns}.{name}";
            void Uses(IEnumerable<string> types, string how)
            {
                foreach (var t in types)
                {
                    int bar = t.IndexOf('|', StringComparison.Ordinal);
                    string target = t[..bar];
                    if (IsTessera(target)) graph.Add(ns, target, $"{from} {how} {target}.{t[(bar + 1)..]}");
                }
            }
            if (!def.BaseType.IsNil) Uses(names.OfEntity(def.BaseType), "derives from");
            foreach (var i in def.GetInterfaceImplementations()) Uses(names.OfEntity(md.GetInterfaceImplementation(i).Interface), "implements");
            foreach (var f in def.GetFields()) Uses(md.GetFieldDefinition(f).DecodeSignature(names, null), "has a field of");
            foreach (var m in def.GetMethods())
            {
                var method = md.GetMethodDefinition(m);
                string where = $"{md.GetString(method.Name)}";
                var signature = method.DecodeSignature(names, null);
                Uses(signature.ReturnType.Concat(signature.ParameterTypes.SelectMany(p => p)), $"({where}) signature names");
                if (!bodies || method.RelativeVirtualAddress == 0) continue;
                var body = pe.GetMethodBody(method.RelativeVirtualAddress);
                if (!body.LocalSignature.IsNil)
                    Uses(md.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(names, null).SelectMany(l => l), $"({where}) has a local of");
                Uses(Il.Tokens(body.GetILBytes() ?? []).SelectMany(names.OfToken), $"({where}) uses");
            }
        }
        return graph;
    }

    private static bool IsTessera(string ns) => ns == "Tessera" || ns.StartsWith("Tessera.", StringComparison.Ordinal);

    /// <summary>The metadata tokens that the instructions of a method body carry.</summary>
    private static class Il
    {
        private static readonly Dictionary<short, OperandType> Operands = typeof(OpCodes).GetFields()
            .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value, o => o.OperandType);

        public static IEnumerable<int> Tokens(byte[] il)
        {
            for (int i = 0; i < il.Length;)
            {
                short code = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
                i += il[i] == 0xFE ? 2 : 1;
                var operand = Operands[code];
                switch (operand)
                {
                    case OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok:
                        yield return BitConverter.ToInt32(il, i);
                        i += 4;
                        break;
                    case OperandType.InlineSwitch:
                        i += 4 + 4 * BitConverter.ToInt32(il, i);
                        break;
                    case OperandType.InlineNone: break;
                    case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: i += 1; break;
                    case OperandType.InlineVar: i += 2; break;
                    case OperandType.InlineI8 or OperandType.InlineR: i += 8; break;
                    default: i += 4; break; // InlineBrTarget, InlineI, InlineSig, InlineString, ShortInlineR
                }
            }
        }
    }

    /// <summary>Full names of the types a type handle, a signature or an IL token names (generic arguments included).</summary>
    private sealed class TypeNames(MetadataReader md) : ISignatureTypeProvider<IEnumerable<string>, object?>
    {
        public (string Namespace, string Name) Of(TypeDefinitionHandle handle)
        {
            var def = md.GetTypeDefinition(handle);
            var outer = def.GetDeclaringType();
            if (!outer.IsNil) { var (ns, name) = Of(outer); return (ns, $"{name}+{md.GetString(def.Name)}"); }
            return (md.GetString(def.Namespace), md.GetString(def.Name));
        }

        private (string Namespace, string Name) Of(TypeReferenceHandle handle)
        {
            var r = md.GetTypeReference(handle);
            if (r.ResolutionScope.Kind == HandleKind.TypeReference)
            {
                var (ns, name) = Of((TypeReferenceHandle)r.ResolutionScope);
                return (ns, $"{name}+{md.GetString(r.Name)}");
            }
            return (md.GetString(r.Namespace), md.GetString(r.Name));
        }

        /// <summary>A type as "namespace|name" (a nested or compiler-generated name may hold dots).</summary>
        private static IEnumerable<string> One((string Namespace, string Name) t) => [$"{t.Namespace}|{t.Name}"];

        public IEnumerable<string> OfEntity(EntityHandle handle) => handle.Kind switch
        {
            HandleKind.TypeDefinition => One(Of((TypeDefinitionHandle)handle)),
            HandleKind.TypeReference => One(Of((TypeReferenceHandle)handle)),
            HandleKind.TypeSpecification => md.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(this, null),
            _ => [],
        };

        public IEnumerable<string> OfToken(int token)
        {
            var handle = MetadataTokens.EntityHandle(token);
            switch (handle.Kind)
            {
                case HandleKind.TypeDefinition or HandleKind.TypeReference or HandleKind.TypeSpecification:
                    return OfEntity(handle);
                case HandleKind.FieldDefinition:
                    var field = md.GetFieldDefinition((FieldDefinitionHandle)handle);
                    return OfEntity(field.GetDeclaringType()).Concat(field.DecodeSignature(this, null));
                case HandleKind.MethodDefinition:
                    var method = md.GetMethodDefinition((MethodDefinitionHandle)handle);
                    var ms = method.DecodeSignature(this, null);
                    return OfEntity(method.GetDeclaringType()).Concat(ms.ReturnType).Concat(ms.ParameterTypes.SelectMany(p => p));
                case HandleKind.MemberReference:
                    var member = md.GetMemberReference((MemberReferenceHandle)handle);
                    var parent = member.Parent.Kind is HandleKind.MethodDefinition ? OfToken(MetadataTokens.GetToken(member.Parent)) : OfEntity(member.Parent);
                    if (member.GetKind() == MemberReferenceKind.Field) return parent.Concat(member.DecodeFieldSignature(this, null));
                    var rs = member.DecodeMethodSignature(this, null);
                    return parent.Concat(rs.ReturnType).Concat(rs.ParameterTypes.SelectMany(p => p));
                case HandleKind.MethodSpecification:
                    var spec = md.GetMethodSpecification((MethodSpecificationHandle)handle);
                    return OfToken(MetadataTokens.GetToken(spec.Method)).Concat(spec.DecodeSignature(this, null).SelectMany(a => a));
                default:
                    return [];
            }
        }

        public IEnumerable<string> GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => One(Of(handle));
        public IEnumerable<string> GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => One(Of(handle));
        public IEnumerable<string> GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
            reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);
        public IEnumerable<string> GetPrimitiveType(PrimitiveTypeCode typeCode) => [];
        public IEnumerable<string> GetSZArrayType(IEnumerable<string> elementType) => elementType;
        public IEnumerable<string> GetArrayType(IEnumerable<string> elementType, ArrayShape shape) => elementType;
        public IEnumerable<string> GetByReferenceType(IEnumerable<string> elementType) => elementType;
        public IEnumerable<string> GetPointerType(IEnumerable<string> elementType) => elementType;
        public IEnumerable<string> GetPinnedType(IEnumerable<string> elementType) => elementType;
        public IEnumerable<string> GetGenericInstantiation(IEnumerable<string> genericType, ImmutableArray<IEnumerable<string>> typeArguments) =>
            genericType.Concat(typeArguments.SelectMany(a => a));
        public IEnumerable<string> GetGenericMethodParameter(object? genericContext, int index) => [];
        public IEnumerable<string> GetGenericTypeParameter(object? genericContext, int index) => [];
        public IEnumerable<string> GetFunctionPointerType(MethodSignature<IEnumerable<string>> signature) =>
            signature.ReturnType.Concat(signature.ParameterTypes.SelectMany(p => p));
        public IEnumerable<string> GetModifiedType(IEnumerable<string> modifier, IEnumerable<string> unmodifiedType, bool isRequired) => unmodifiedType;
    }
}
