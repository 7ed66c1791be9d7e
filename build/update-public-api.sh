#!/usr/bin/env bash
# Regenerates src/Tessera/PublicAPI.Unshipped.txt from the code as it is, from scratch: the file is emptied
# (only '#nullable enable' stays) and the PublicApiAnalyzers' code fix for RS0016 ("symbol is not part of the
# declared API") adds every public symbol back, sorted. PublicAPI.Shipped.txt (the API of released versions)
# is left as it is; nothing has been released yet, so it holds only the header.
#
# Run it after changing the public API (or after merging branches that did), then review the diff:
#   build/update-public-api.sh && git diff src/Tessera/PublicAPI.*.txt
# The build fails (warnings are errors) while the files and the code disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
project=src/Tessera/Tessera.csproj
unshipped=src/Tessera/PublicAPI.Unshipped.txt
shipped=src/Tessera/PublicAPI.Shipped.txt

[ -f "$shipped" ] || printf '#nullable enable\n' > "$shipped"
printf '#nullable enable\n' > "$unshipped"

dotnet restore "$project" -v q
# RS0016 adds missing symbols; RS0017 drops entries whose symbol is gone; RS0036/RS0037 fix nullability marks.
dotnet format analyzers "$project" --no-restore --diagnostics RS0016 RS0017 RS0036 RS0037 --severity info -v q

# A check that the result is complete: the library must now build with the analyzer's errors on.
dotnet build "$project" --no-restore -v q -nologo -clp:ErrorsOnly
echo "public API: $(grep -vc '^#' "$unshipped") entries in $unshipped, $(grep -vc '^#' "$shipped") in $shipped"
