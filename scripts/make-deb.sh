#!/bin/bash
# Builds the Debian packages into OUT (default build-deb/):
#   mergemem        the tools, libmergemem.so.0, man pages, completions,
#                   systemd units and /etc/mergemem/memmerge.conf
#   libmergemem-dev headers, libmergemem.so, mergemem.pc, the CMake package
#   mergemem-dkms   the module's source for DKMS, built for every kernel
#                   with headers on install
# A plain dpkg-deb build from a staged `cmake --install`, with dependencies
# from dpkg-shlibdeps: no debhelper needed.  make deb runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build-deb}
VERSION=$(sed -n 's/^project(mergemem VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
DEBVER="$VERSION-1"
ARCH=$(dpkg --print-architecture)
MAINT="mergemem developers <mergemem@lists.example.org>"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cmake -S . -B "$OUT/build" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_SKIP_INSTALL_RPATH=ON -DMERGEMEM_TESTS=OFF -DMERGEMEM_BENCH=OFF >/dev/null
cmake --build "$OUT/build" -j"$(nproc)" >/dev/null
stage="$OUT/stage"
rm -rf "$stage" "$OUT"/pkg-* "$OUT"/*.deb
DESTDIR="$stage" cmake --install "$OUT/build" --strip >/dev/null
libdir=$(cd "$stage" && ls -d usr/lib/*-linux-gnu)

# move PKG PATH...: files of the stage into a package's tree.
move() {
	local pkg=$1 p
	shift
	for p in "$@"; do
		mkdir -p "$OUT/pkg-$pkg/$(dirname "$p")"
		mv "$stage/$p" "$OUT/pkg-$pkg/$p"
	done
}
move libmergemem-dev usr/include "$libdir/libmergemem.so" "$libdir/pkgconfig" "$libdir/cmake"
move mergemem-dkms "usr/src/mergemem-$VERSION"
move mergemem usr/bin $(cd "$stage" && echo "$libdir"/libmergemem.so.*) usr/share lib/systemd etc
left=$(cd "$stage" && find . -type f)
[ -z "$left" ] || { echo "make-deb: files in no package: $left" >&2; exit 1; }

# Runtime dependencies from the ELF files, as dh_shlibdeps would.
shlibdeps() {
	local tmp
	tmp=$(mktemp -d)
	mkdir -p "$tmp/debian"
	printf 'Source: mergemem\n\nPackage: mergemem\nArchitecture: any\n' >"$tmp/debian/control"
	(cd "$tmp" && dpkg-shlibdeps -O -l"$OUT/pkg-mergemem/$libdir" --ignore-missing-info "$@" 2>/dev/null) |
		sed -n 's/^shlibs:Depends=//p'
	rm -rf "$tmp"
}
deps=$(shlibdeps "$OUT/pkg-mergemem"/usr/bin/* "$OUT/pkg-mergemem/$libdir"/libmergemem.so.*)

for pkg in mergemem libmergemem-dev mergemem-dkms; do
	d="$OUT/pkg-$pkg"
	mkdir -p "$d/DEBIAN" "$d/usr/share/doc/$pkg"
	printf 'mergemem %s\nLicense: GPL-2.0-or-later\n' "$VERSION" >"$d/usr/share/doc/$pkg/copyright"
done

size() { du -sk --exclude=DEBIAN "$1" | cut -f1; }

cat >"$OUT/pkg-mergemem/DEBIAN/control" <<EOF
Package: mergemem
Version: $DEBVER
Architecture: $ARCH
Maintainer: $MAINT
Installed-Size: $(size "$OUT/pkg-mergemem")
Depends: $deps
Recommends: mergemem-dkms
Section: admin
Priority: optional
Description: find, merge and watch identical memory pages across processes
 memdup reports identical anonymous pages across a set of processes,
 memmerge merges them copy-on-write with KSM, and memsplit shows where the
 sharing breaks later.  Includes libmergemem and a nightly systemd timer.
EOF
echo /etc/mergemem/memmerge.conf >"$OUT/pkg-mergemem/DEBIAN/conffiles"
cat >"$OUT/pkg-mergemem/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	ldconfig
	# The timer is shipped disabled: it merges nothing until the config names processes.
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload >/dev/null 2>&1 || true
	fi
fi
EOF
cat >"$OUT/pkg-mergemem/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
case "$1" in
remove | purge) ldconfig ;;
esac
if [ "$1" = purge ]; then
	rm -rf /var/lib/mergemem /run/mergemem
	rmdir /etc/mergemem 2>/dev/null || true
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
EOF
cat >"$OUT/pkg-mergemem/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	systemctl stop memmerge.timer memmerge.service >/dev/null 2>&1 || true
	systemctl disable memmerge.timer >/dev/null 2>&1 || true
fi
EOF

cat >"$OUT/pkg-libmergemem-dev/DEBIAN/control" <<EOF
Package: libmergemem-dev
Version: $DEBVER
Architecture: $ARCH
Maintainer: $MAINT
Installed-Size: $(size "$OUT/pkg-libmergemem-dev")
Depends: mergemem (= $DEBVER)
Section: libdevel
Priority: optional
Description: find and merge identical memory pages: development files
 Headers, mergemem.pc and the CMake package (find_package(mergemem)) for
 libmergemem, the library behind memdup, memmerge and memsplit.
EOF

cat >"$OUT/pkg-mergemem-dkms/DEBIAN/control" <<EOF
Package: mergemem-dkms
Version: $DEBVER
Architecture: all
Maintainer: $MAINT
Installed-Size: $(size "$OUT/pkg-mergemem-dkms")
Depends: dkms (>= 2.1), make
Recommends: linux-headers-amd64 | linux-headers-generic
Section: kernel
Priority: optional
Description: find and merge identical memory pages: kernel module (DKMS)
 mergemem.ko adds /dev/mergemem, which lets a CAP_SYS_PTRACE caller opt
 another process's memory into KSM and read per-page facts without copying
 page contents.  Built by DKMS for every kernel whose headers are installed.
EOF
cat >"$OUT/pkg-mergemem-dkms/DEBIAN/postinst" <<EOF
#!/bin/sh
set -e
if [ "\$1" = configure ]; then
	dkms status -m mergemem -v $VERSION | grep -q . || dkms add -m mergemem -v $VERSION
	# Every kernel with headers; one without is left for DKMS's kernel hook.
	for k in /lib/modules/*; do
		kv=\${k##*/}
		[ -e "\$k/build/Makefile" ] || continue
		dkms install -m mergemem -v $VERSION -k "\$kv" ||
			echo "mergemem-dkms: could not build mergemem.ko for \$kv (see /var/lib/dkms/mergemem/$VERSION/build/make.log)" >&2
	done
fi
EOF
cat >"$OUT/pkg-mergemem-dkms/DEBIAN/prerm" <<EOF
#!/bin/sh
set -e
case "\$1" in
remove | upgrade | deconfigure)
	if dkms status -m mergemem -v $VERSION | grep -q .; then
		dkms remove -m mergemem -v $VERSION --all || true
	fi
	;;
esac
EOF

for pkg in mergemem libmergemem-dev mergemem-dkms; do
	chmod 0755 "$OUT/pkg-$pkg/DEBIAN"/{postinst,prerm,postrm} 2>/dev/null || true
	arch=$ARCH
	[ "$pkg" = mergemem-dkms ] && arch=all
	dpkg-deb --root-owner-group -Zxz --build "$OUT/pkg-$pkg" "$OUT/${pkg}_${DEBVER}_${arch}.deb" >/dev/null
done
ls "$OUT"/*.deb
