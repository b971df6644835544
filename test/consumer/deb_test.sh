#!/usr/bin/env bash
# The Debian package end to end: cpack -G DEB from the build, the .deb's name, dependencies and
# contents checked, unpacked into a fresh prefix (dpkg-deb -x, no dpkg -i), then the consumer in
# this directory built twice against that prefix, with find_package(coordination) and with
# pkg-config --cflags --libs coordination, and run. Also runs the packaged coordctl.
# Usage: deb_test.sh BUILD_DIR WORK_DIR
set -euo pipefail
BUILD=${1:?usage: deb_test.sh BUILD_DIR WORK_DIR}
WORK=${2:?usage: deb_test.sh BUILD_DIR WORK_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rm -rf "$WORK" && mkdir -p "$WORK"

failures=0
pass() { echo "ok   $1"; }
fail() { failures=$((failures + 1)); echo "FAIL $1"; }

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
arch=$(dpkg --print-architecture)
(cd "$WORK" && cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$WORK/pkg" >cpack.log 2>&1) ||
  { cat "$WORK/cpack.log"; echo "FAIL cpack -G DEB"; exit 1; }
deb=$WORK/pkg/coordination_${version}_${arch}.deb
[[ -f $deb ]] && pass "cpack made $(basename "$deb")" || { ls "$WORK/pkg"; fail "no $deb"; exit 1; }

depends=$(dpkg-deb -f "$deb" Depends)
for p in libboost1.81-dev libssl-dev nlohmann-json3-dev libspdlog-dev prometheus-cpp-dev libsimdjson-dev; do
  [[ ", $depends," == *", $p,"* ]] && pass "depends on $p" || fail "Depends lacks $p: $depends"
done
[[ $(dpkg-deb -f "$deb" Version) == "$version" ]] && pass "version $version" || fail "version"

prefix=$WORK/root
dpkg-deb -x "$deb" "$prefix"
for f in usr/lib/libcoordination.a usr/include/coordination/coordinator.hpp \
  usr/include/coordination/as_result.hpp usr/lib/cmake/coordination/coordinationConfig.cmake \
  usr/lib/pkgconfig/coordination.pc usr/bin/coordctl usr/bin/coord-bench; do
  [[ -e $prefix/$f ]] && pass "has /$f" || fail "no /$f in the package"
done
lib=$prefix/usr/lib/libcoordination.a
if readelf -S "$BUILD/libcoordination.a" | grep -q '\.debug_'; then
  ! readelf -S "$lib" | grep -q '\.debug_' &&
    pass "library stripped of debug info ($(stat -c %s "$lib") bytes, $(stat -c %s "$BUILD/libcoordination.a") built)" ||
    fail "the packaged library still has debug sections"
else
  pass "library built without debug info: nothing to strip"
fi
"$prefix/usr/bin/coordctl" --help >/dev/null && pass "packaged coordctl runs" || fail "coordctl"

# 1. find_package(coordination CONFIG) against the unpacked prefix.
if cmake -S "$HERE" -B "$WORK/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix/usr" \
  >"$WORK/cmake.log" 2>&1 && cmake --build "$WORK/cmake-build" >>"$WORK/cmake.log" 2>&1 &&
  "$WORK/cmake-build/consumer"; then
  pass "consumer built with find_package(coordination)"
else
  cat "$WORK/cmake.log"
  fail "consumer with find_package(coordination)"
fi

# 2. pkg-config: the .pc's prefix is taken from where it was unpacked (--define-prefix).
export PKG_CONFIG_PATH=$prefix/usr/lib/pkgconfig
if flags=$(pkg-config --define-prefix --cflags --libs coordination) &&
  [[ $flags == *"-I$prefix/usr/include"* ]] &&
  g++ -o "$WORK/consumer-pc" "$HERE/main.cpp" $flags >"$WORK/pc.log" 2>&1 &&
  "$WORK/consumer-pc"; then
  pass "consumer built with pkg-config --cflags --libs coordination"
else
  echo "flags: ${flags:-}"
  cat "$WORK/pc.log" 2>/dev/null
  fail "consumer with pkg-config"
fi

echo "$failures failure(s)"
exit $((failures > 0))
