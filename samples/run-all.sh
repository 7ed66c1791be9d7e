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
for p in src/Tessera src/Tessera.Plotting src/Tessera.Server; do
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

# The core package must not bring libtorch or platform natives.
if unzip -l artifacts/packages/Tessera.0.*.nupkg | grep -E 'runtimes/|\.so$' >/dev/null; then
  echo "samples: the Tessera package carries native files" >&2; exit 1
fi
echo "samples: all passed"
printf '  %s\n' "${timings[@]}"
