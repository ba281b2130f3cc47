#!/usr/bin/env bash
# Rebuild plots/offline.html: DVC's plot page with vega, vega-lite and vega-embed inlined instead of
# fetched from a CDN, so `dvc plots show` and `dvc plots diff` render with no internet. The versions are
# the ones DVC's own page loads (dvc_render's VegaRenderer). All three are BSD-3-Clause (see LICENSES below).
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
packages=(vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2)
(cd "$work" && npm pack --silent "${packages[@]}" >/dev/null && for archive in *.tgz; do
    mkdir "${archive%.tgz}" && tar xzf "$archive" -C "${archive%.tgz}"; done)
{
  printf '<!DOCTYPE html>\n<html>\n<head>\n{refresh_tag}\n<meta charset="utf-8">\n<title>DVC Plot</title>\n'
  printf '<!-- Built by plots/vendor.sh from npm: %s. BSD-3-Clause; licenses:\n' "${packages[*]}"
  for package in "$work"/vega-5*/ "$work"/vega-lite-*/ "$work"/vega-embed-*/; do
    sed "s/--/- -/g" "${package}package/LICENSE"; echo
  done
  printf -- '-->\n'
  for file in vega-5*/package/build/vega.min.js vega-lite-*/package/build/vega-lite.min.js \
              vega-embed-*/package/build/vega-embed.min.js; do
    printf '<script>\n'; cat "$work"/$file; printf '\n</script>\n'
  done
  printf '<style>table { border-spacing: 15px; }</style>\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n'
} > offline.html
echo "plots/offline.html: $(wc -c < offline.html) bytes"
