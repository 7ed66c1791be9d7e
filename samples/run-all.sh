#!/usr/bin/env bash
# Packs Tessera into artifacts/packages, then builds every sample against those packages (a local feed, not
# project references) and runs each on tiny data, printing its run time. CI calls it after the tests.
#
# The packages get a version of this run (0.1.0-local.<time>) and are restored into a folder of this run
# (artifacts/samples/packages), with the machine's global NuGet folder as a read-only fallback for everything
# else: a re-packed Tessera never meets a stale copy of itself, and the global cache is not written.
#
# TESSERA_SAM_CHECKPOINT: the SAM .pth for the SAM samples (default tests/fixtures/sam/sam_tiny.pth).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
root=$(pwd)
sam=${TESSERA_SAM_CHECKPOINT:-$root/tests/fixtures/sam/sam_tiny.pth}
[ -f "$sam" ] || { echo "samples: SAM checkpoint $sam not found (set TESSERA_SAM_CHECKPOINT)" >&2; exit 1; }

base=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props | head -n 1)
version="$base-local.$(date +%s)"
start=$(date +%s)
rm -rf artifacts/packages artifacts/samples
for p in src/Tessera src/Tessera.Imaging.Skia src/Tessera.Plotting src/Tessera.Server; do
  dotnet pack "$p" -c Release -v q -nologo -p:Version="$version"
done
echo "pack $version: $(( $(date +%s) - start )) s"
ls -l artifacts/packages

work=$root/artifacts/samples
mkdir -p "$work/packages"
global=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')
restore=(-p:TesseraVersion="$version" -p:RestorePackagesPath="$work/packages" -p:RestoreFallbackFolders="$global")

# Builds a sample against the feed, then runs it in its own folder under artifacts/samples.
run_sample() {
  local name=$1; shift
  local t0 t1 t2
  t0=$(date +%s)
  dotnet build "samples/$name" -c Release -v q -nologo "${restore[@]}" -o "$work/bin/$name"
  t1=$(date +%s)
  mkdir -p "$work/run/$name"
  (cd "$work/run/$name" && "$work/bin/$name/$name" "$@")
  t2=$(date +%s)
  echo "sample $name: build $(( t1 - t0 )) s, run $(( t2 - t1 )) s"
  timings+=("$name: run $(( t2 - t1 )) s (build $(( t1 - t0 )) s)")
}

timings=()
run_sample RopeYarn
run_sample SamPredict "$sam"
run_sample SamAutoMasks "$sam"
run_sample ScoreLabels
run_sample DiffusionGrid
run_sample DeepLabVoc

# The core package must not bring libtorch or platform natives: not in its own files, and not through its dependencies.
if unzip -l artifacts/packages/Tessera.0.*.nupkg | grep -E 'runtimes/|\.so$' >/dev/null; then
  echo "samples: the Tessera package carries native files" >&2; exit 1
fi
# RopeYarn references only the core (and the backend TorchSharp-cpu): walk its restore's dependency graph from Tessera.
# A package is platform-native when it carries native runtime assets (or is a libtorch / SkiaSharp.NativeAssets
# package). The managed TorchSharp package itself carries LibTorchSharp (its native glue, not libtorch) and depends on
# SkiaSharp, which brings SkiaSharp's Windows and macOS natives: that part of the graph is TorchSharp's, which the
# library must reference, and is listed, not failed; a native package reached from any other dependency of Tessera
# (SkiaSharp referenced by the core itself, say) fails the run.
python3 - samples/RopeYarn/obj/project.assets.json <<'PY'
import json, re, sys
assets = json.load(open(sys.argv[1]))
libs = next(iter(assets["targets"].values()))
by_name = {key.split("/")[0].lower(): (key, lib) for key, lib in libs.items()}

def closure(root):
    seen, todo = set(), [root.lower()]
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name: continue
        seen.add(name)
        todo += [d.lower() for d in by_name[name][1].get("dependencies", {})]
    return seen

def native(name):
    key, lib = by_name[name]
    files = list(lib.get("runtimeTargets", {}).items()) + [(f, {"assetType": "native"}) for f in lib.get("native", {})]
    return any(v.get("assetType") == "native" and not f.endswith("_._") for f, v in files) \
        or re.match(r"(libtorch-|torchsharp-c(pu|uda)|skiasharp\.nativeassets)", name) is not None

core = closure("Tessera")
direct = sorted(by_name["tessera"][1].get("dependencies", {}))
torchsharp = closure("TorchSharp")
print("Tessera's dependencies:", ", ".join(direct))
print("closure:", ", ".join(sorted(by_name[n][0] for n in core)))
print("native, through the managed TorchSharp package:", ", ".join(sorted(by_name[n][0] for n in core & torchsharp if native(n))) or "none")
others = set().union(*[closure(d) for d in direct if d.lower() != "torchsharp"])
bad = sorted(by_name[n][0] for n in others if native(n))
if bad:
    sys.exit("samples: the Tessera package brings platform-native packages: " + ", ".join(bad))
PY
echo "samples: all passed"
printf '  %s\n' "${timings[@]}"
