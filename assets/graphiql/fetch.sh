#!/usr/bin/env bash
# Re-fetches the GraphiQL page's third-party assets into vendor/ (run by hand, then commit).
# Each package is pinned to one version and to the integrity hash the npm registry
# published for it; a tarball whose SHA-512 differs is refused before anything is copied.
# Only production builds are kept, with each package's licence.
#
# To update: change a version below, take its hash from `npm view PKG@VERSION dist.integrity`,
# run this script, check the page (cargo test --test it browser, with Chromium), commit.
#
# graphql-ws (GraphiQL's subscription transport) is not fetched on its own: graphiql's UMD
# bundle already inlines it (its createFetcher builds the WebSocket client from it).
set -euo pipefail
cd "$(dirname "$0")"

# name version integrity: the files to keep (tarball path => vendor name)
PINS=(
  "react 18.3.1 sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ=="
  "react-dom 18.3.1 sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw=="
  "graphiql 4.1.2 sha512-rNlzQIAzm6i2KBXmVQWBgLvt0TloxFVB2d18bukvdsvjEuFDHsKx5IVOomL1W1o5WW+tE54+ioHb2AEKzO2cUg=="
)
declare -A FILES=(
  [react]="umd/react.production.min.js=react.production.min.js LICENSE=LICENSE.react"
  [react-dom]="umd/react-dom.production.min.js=react-dom.production.min.js LICENSE=LICENSE.react-dom"
  [graphiql]="graphiql.min.js=graphiql.min.js graphiql.min.css=graphiql.min.css LICENSE=LICENSE.graphiql"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p vendor
: >"$work/VERSIONS"
for pin in "${PINS[@]}"; do
  read -r name version integrity <<<"$pin"
  tarball=$(cd "$work" && npm pack --silent "$name@$version")
  got="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
  if [[ "$got" != "$integrity" ]]; then
    echo "$name@$version: integrity mismatch: expected $integrity, got $got" >&2
    exit 1
  fi
  mkdir -p "$work/$name"
  tar -xzf "$work/$tarball" -C "$work/$name"
  for pair in ${FILES[$name]}; do
    cp "$work/$name/package/${pair%%=*}" "vendor/${pair#*=}"
  done
  echo "$name $version $integrity" >>"$work/VERSIONS"
done
cp "$work/VERSIONS" vendor/VERSIONS
(cd vendor && sha256sum -- *.js *.css LICENSE.* >SHA256SUMS)
echo "vendor/ updated:"
cat vendor/VERSIONS
