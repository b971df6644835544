# Which etcd the scripts run (sourced by common.sh, not run).
#   select_etcd 3.4   Debian 12's etcd-server package (installed with the other packages)
#   select_etcd 3.5   Debian's etcd 3.5 from the sid suite (trixie's when sid has no 3.5 any
#                     more), fetched once with apt-get download under a private apt configuration
#                     (its own source list, lists and cache, under the build dir; the system's apt
#                     sources and package state are not touched) and unpacked with dpkg-deb -x.
#                     Nothing is installed: etcd is a static Go binary.
# Exports COORD_ETCD_BIN (the test fixtures and coord-local-etcd start that binary) and puts its
# directory first on PATH (etcdctl), then prints "etcd version: X.Y.Z".

ETCD_CACHE=${ETCD_CACHE:-$ROOT/build/etcd-releases}

# The Debian mirror this machine uses (the first URIs: line of its deb822 sources, else the first
# deb line of sources.list).
debian_mirror() {
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [[ -z $uri ]]; then
    uri=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
      /etc/apt/sources.list 2>/dev/null || true)
  fi
  [[ -n $uri ]] || { echo "no Debian mirror found in the apt sources" >&2; return 1; }
  echo "$uri"
}

# Fetches etcd-server and etcd-client of the newest $1.x in sid (else trixie) into $2.
fetch_debian_etcd() {
  local want=$1 dest=$2 apt_dir=$ETCD_CACHE/apt mirror suite version=
  mirror=$(debian_mirror)
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
  local opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=/nonexistent"
              -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
              -o "Debug::NoLocking=1" -o "Acquire::Check-Valid-Until=false"
              -o "Acquire::Check-Date=false" -o "APT::Sandbox::User=root")
  # (Check-Valid-Until and Check-Date off: a mirror that serves a dated snapshot of Debian has a
  # Release file past its Valid-Until; its signature is still checked. No sandbox user to drop
  # to without root.)
  [[ $(id -u) -eq 0 ]] || opts=("${opts[@]:0:14}")
  for suite in sid trixie; do
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
      >"$apt_dir/sources.list"
    log "looking for etcd $want in Debian $suite (private apt configuration under $apt_dir)"
    if ! apt-get "${opts[@]}" -q update >/dev/null; then
      log "apt-get update of $suite failed (see above)"
      continue
    fi
    version=$(apt-cache "${opts[@]}" madison etcd-server | awk -v w="$want." \
      'index($3, w) == 1 {print $3; exit}')
    [[ -n $version ]] && break
  done
  [[ -n $version ]] || { echo "no etcd $want in Debian sid or trixie" >&2; return 1; }
  log "fetching etcd-server and etcd-client $version"
  rm -f "$apt_dir/debs"/*.deb
  (cd "$apt_dir/debs" && apt-get "${opts[@]}" -q download "etcd-server=$version" \
    "etcd-client=$version" 2>&1 | grep -v "^W: Download is performed unsandboxed" >&2 || true)
  local deb
  rm -rf "$dest.partial"
  mkdir -p "$dest.partial"
  for deb in "$apt_dir/debs"/etcd-server_*.deb "$apt_dir/debs"/etcd-client_*.deb; do
    [[ -f $deb ]] || { echo "apt-get download fetched no $deb" >&2; return 1; }
    dpkg-deb -x "$deb" "$dest.partial"
  done
  "$dest.partial/usr/bin/etcd" --version >/dev/null
  rm -rf "$dest"
  mv "$dest.partial" "$dest"
}

select_etcd() {
  local want=$1 bin
  case $want in
    3.4)
      bin=/usr/bin/etcd  # (Debian's package; not whatever etcd comes first on PATH)
      [[ -x $bin ]] || bin=$(command -v etcd || true)
      ;;
    3.5)
      local dest=$ETCD_CACHE/$want
      [[ -x $dest/usr/bin/etcd ]] || fetch_debian_etcd "$want" "$dest"
      bin=$dest/usr/bin/etcd
      export PATH="$dest/usr/bin:$PATH"
      ;;
    *) echo "--etcd: 3.4 or 3.5, not '$want'" >&2; exit 2 ;;
  esac
  [[ -n $bin && -x $bin ]] || { echo "no etcd binary for $want" >&2; exit 1; }
  export COORD_ETCD_BIN=$bin
  local v
  v=$("$bin" --version | sed -n 's/^etcd Version: //p' | head -1)
  [[ $v == "$want".* ]] || { echo "$bin is etcd $v, not $want" >&2; exit 1; }
  log "etcd version: $v ($bin)"
}
