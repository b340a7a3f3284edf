#!/bin/bash
# build.sh makes the ZooKeeper 3.8 image the tests run, without needing a container registry.
#
#   ZK_IMAGE unset or zkrecipes/...  ->  zkrecipes/zookeeper:3.8 (or that name):
#       1. present and up to date: nothing to do (well under a second);
#       2. else, for the default name, try `docker pull zookeeper:3.8` (works wherever Docker Hub
#          is reachable, no root needed) and tag it zkrecipes/zookeeper:3.8;
#       3. else build it from Debian's packages with debootstrap + `docker import` (needs root,
#          and Debian's package mirror; about a minute or two).
#   ZK_IMAGE=zookeeper:3.8 (the official image, or any other name)  ->  present: nothing to do;
#       else `docker pull` it; when that fails and it is the official image, build
#       zkrecipes/zookeeper:3.8 instead and say to use that.
#
# Environment: ZK_IMAGE (see above), DEBIAN_MIRROR (default: the host's apt source),
# ZK_IMAGE_REBUILD=1 (rebuild even when present), TMPDIR (where the root filesystem is built).
#
# The image carries ZKRECIPES_IMAGE_REV, a hash of what went into it: when entrypoint.sh changes
# the entrypoint is swapped in place in a second, and when this script changes the image is
# rebuilt, so nobody tests against a stale image by accident.
set -euo pipefail

readonly DEFAULT_IMAGE=zkrecipes/zookeeper:3.8
readonly OFFICIAL_IMAGE=zookeeper:3.8
readonly SUITE=bookworm
# libzookeeper-java, not the `zookeeper` package, which drags in a full JRE with X11. The JRE's
# Recommends are not installed by debootstrap, which keeps fonts and friends out.
readonly PACKAGES=default-jre-headless,libzookeeper-java,libslf4j-java
readonly ENTRYPOINT=/usr/local/bin/docker-entrypoint.sh

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=${ZK_IMAGE:-$DEFAULT_IMAGE}

log() { printf 'zk-image: %s\n' "$*" >&2; }
die() {
	printf 'zk-image: error: %s\n' "$*" >&2
	exit 1
}

# rootfs_rev names the root filesystem's recipe (this script); entrypoint_rev the entrypoint.
rootfs_rev=$(sha256sum <"$here/build.sh" | cut -c1-12)
entrypoint_rev=$(sha256sum <"$here/entrypoint.sh" | cut -c1-12)
readonly rootfs_rev entrypoint_rev
readonly rev="$rootfs_rev-$entrypoint_rev"

is_official() {
	case "$1" in
	zookeeper | zookeeper:* | library/zookeeper | library/zookeeper:* | docker.io/zookeeper | docker.io/zookeeper:* | docker.io/library/zookeeper | docker.io/library/zookeeper:*) return 0 ;;
	*) return 1 ;;
	esac
}

is_ours() { [[ "$1" == zkrecipes/* ]]; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# image_rev prints the ZKRECIPES_IMAGE_REV an image was built with (empty if none, e.g. the
# official image tagged under our name).
image_rev() {
	docker image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$1" |
		sed -n 's/^ZKRECIPES_IMAGE_REV=//p'
}

try_pull() {
	log "trying: docker pull $1 (20 s at most)"
	if timeout 20 docker pull "$1" >&2; then
		return 0
	fi
	log "could not pull $1 (no registry reachable?)"
	return 1
}

# Everything an image needs that `docker import` cannot infer from a tarball.
image_changes=(
	--change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	--change "ENV LANG=C.UTF-8"
	--change "ENV ZOO_CONF_DIR=/conf ZOO_DATA_DIR=/data ZOO_DATA_LOG_DIR=/datalog"
	--change "ENV ZKRECIPES_IMAGE_REV=$rev"
	--change "EXPOSE 2181 2888 3888 8080"
	--change "WORKDIR /"
	--change "ENTRYPOINT [\"$ENTRYPOINT\"]"
)

# update_entrypoint swaps a changed entrypoint.sh into an existing image of ours: a new layer,
# no debootstrap.
update_entrypoint() {
	local target=$1 cid
	log "entrypoint.sh changed since $target was built: updating it in place"
	cid=$(docker create --entrypoint /bin/true "$target")
	# shellcheck disable=SC2064 # expand cid now: the trap may run after this function returns
	trap "docker rm -f $cid >/dev/null 2>&1 || true" EXIT
	# Through tar, so the script is executable and root's whatever the checkout's modes are.
	tar -c --owner=0 --group=0 --mode=0755 -C "$here" \
		--transform "s|^entrypoint.sh\$|${ENTRYPOINT##*/}|" entrypoint.sh |
		docker cp - "$cid:${ENTRYPOINT%/*}"
	docker commit "${image_changes[@]}" "$cid" "$target" >/dev/null
	docker rm -f "$cid" >/dev/null
	trap - EXIT
}

# debian_mirror prints the Debian archive URI apt uses on this machine, so the image comes from
# the same place (and no mirror host is written into the repository).
debian_mirror() {
	local uri=""
	if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
		echo "$DEBIAN_MIRROR"
		return
	fi
	if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
		# deb822 stanzas: prefer one serving the suite itself, else any non-security "deb" one.
		uri=$(awk -v suite="$SUITE" '
			BEGIN { RS = ""; FS = "\n" }
			{
				types = ""; uris = ""; suites = ""
				for (i = 1; i <= NF; i++) {
					line = $i
					if (line ~ /^[ \t]*#/) continue
					if (line ~ /^Types:/)  { sub(/^Types:[ \t]*/, "", line); types = line }
					if (line ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", line); uris = line }
					if (line ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", line); suites = line }
				}
				if (uris == "" || (" " types " ") !~ / deb /) next
				split(uris, u, /[ \t]+/)
				if ((" " suites " ") ~ (" " suite " ")) { print u[1]; exit }
				if (fallback == "" && suites !~ /-security/ && u[1] !~ /security/) fallback = u[1]
			}
			END { if (fallback != "") print fallback }
		' /etc/apt/sources.list.d/debian.sources | head -n1)
	fi
	if [[ -z "$uri" && -r /etc/apt/sources.list ]]; then
		# One-line format: deb [options] URI suite components...
		uri=$(sed -e 's/#.*//' -e 's/\[[^]]*\]//' /etc/apt/sources.list |
			awk '$1 == "deb" && $3 !~ /-security/ && $2 !~ /security/ { print $2; exit }')
	fi
	[[ -n "$uri" ]] || die "found no Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list; set DEBIAN_MIRROR"
	echo "$uri"
}

# wget (used by debootstrap) does not read apt's proxy setting; pass it on when apt has one.
export_apt_proxy() {
	local proxy=""
	if [[ -z "${http_proxy:-}" ]] && command -v apt-config >/dev/null; then
		eval "$(apt-config shell proxy Acquire::http::Proxy)"
		if [[ -n "$proxy" && "$proxy" != DIRECT ]]; then
			export http_proxy=$proxy
			log "using apt's HTTP proxy for debootstrap"
		fi
	fi
}

# unmount_under unmounts (deepest first) whatever is mounted below a directory: a debootstrap that
# died may leave /proc or /sys mounted in the root filesystem.
unmount_under() {
	local mnt
	while read -r mnt; do
		umount -l "$mnt" 2>/dev/null || true
	done < <(awk -v root="$1/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r)
}

workdir=""
cleanup() {
	local status=$?
	if [[ -n "$workdir" && -d "$workdir" ]]; then
		unmount_under "$workdir"
		# Never let rm cross into a filesystem that is still mounted in there.
		rm -rf --one-file-system "$workdir"
	fi
	exit "$status"
}

build_from_debian() {
	local target=$1 mirror rootfs start old
	start=$SECONDS
	old=$(docker image inspect --format '{{.Id}}' "$target" 2>/dev/null || true)
	if [[ $(id -u) -ne 0 ]]; then
		die "building $target from Debian packages needs root (debootstrap); run 'sudo make image', or set ZK_IMAGE=$OFFICIAL_IMAGE where Docker Hub is reachable"
	fi
	if ! command -v debootstrap >/dev/null; then
		log "installing debootstrap"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2 ||
			{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2; } ||
			die "could not install debootstrap with apt-get"
	fi
	mirror=$(debian_mirror)
	export_apt_proxy

	trap cleanup EXIT
	workdir=$(mktemp -d "${TMPDIR:-/var/tmp}/zk-image.XXXXXX")
	rootfs=$workdir/rootfs
	log "building $target from Debian $SUITE packages ($PACKAGES) from $mirror"
	if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$mirror" \
		>"$workdir/debootstrap.log" 2>&1; then
		tail -n 30 "$workdir/debootstrap.log" >&2
		if [[ -f "$rootfs/debootstrap/debootstrap.log" ]]; then
			tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
		fi
		die "debootstrap failed (log above)"
	fi
	log "debootstrap done in $((SECONDS - start)) s"
	unmount_under "$rootfs"

	# Smaller: no package cache or lists, docs, man pages, locales, logs. And the host's resolver
	# settings and identity do not belong in an image (Docker provides them).
	chroot "$rootfs" apt-get clean
	rm -rf --one-file-system "${rootfs:?}"/var/lib/apt/lists/* "${rootfs:?}"/var/cache/apt/*.bin \
		"${rootfs:?}"/var/cache/debconf/*-old "${rootfs:?}"/var/lib/dpkg/*-old \
		"${rootfs:?}"/var/log/* "${rootfs:?}"/tmp/* "${rootfs:?}"/var/tmp/* \
		"${rootfs:?}"/usr/share/doc/* "${rootfs:?}"/usr/share/man/* "${rootfs:?}"/usr/share/info/* \
		"${rootfs:?}"/usr/share/locale/* "${rootfs:?}"/usr/share/lintian/* \
		"${rootfs:?}"/etc/resolv.conf "${rootfs:?}"/etc/hostname "${rootfs:?}"/dev/*
	# Keep them gone on any later apt-get inside the image, as Debian's own images do.
	printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-exclude /usr/share/man/*' \
		'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
		>"$rootfs/etc/dpkg/dpkg.cfg.d/zkrecipes-nodoc"
	: >"$rootfs/etc/machine-id"
	install -m 0755 "$here/entrypoint.sh" "$rootfs$ENTRYPOINT"
	mkdir -p "$rootfs/conf" "$rootfs/data" "$rootfs/datalog"
	[[ -e "$rootfs/usr/share/java/zookeeper.jar" && -e "$rootfs/usr/share/java/slf4j-simple.jar" ]] ||
		die "the root filesystem lacks zookeeper.jar or slf4j-simple.jar"

	log "importing into Docker ($(du -sh --one-file-system "$rootfs" | cut -f1))"
	tar --numeric-owner -C "$rootfs" -c . | docker import "${image_changes[@]}" \
		--message "zkrecipes ZooKeeper 3.8 from Debian $SUITE" - "$target" >/dev/null
	# Java needs /proc, which only a container gives it: check it runs there.
	docker run --rm --network none --entrypoint java "$target" -version >/dev/null 2>&1 ||
		die "java does not run in $target"
	log "built $target in $((SECONDS - start)) s ($(docker image inspect --format '{{.Size}}' "$target" | awk '{ printf "%d MB", $1 / 1e6 }'))"
	if [[ -n "$old" ]]; then
		# Without -f this fails, harmlessly, while a container still uses the old image.
		docker rmi "$old" >/dev/null 2>&1 || true
	fi
}

# ensure_ours makes sure one of our images is present and built from the current recipe.
ensure_ours() {
	local target=$1 have
	if image_exists "$target" && [[ "${ZK_IMAGE_REBUILD:-}" != 1 ]]; then
		have=$(image_rev "$target")
		if [[ -z "$have" || "$have" == "$rev" ]]; then
			log "$target is present"
			return
		fi
		if [[ "${have%-*}" == "$rootfs_rev" ]]; then
			update_entrypoint "$target"
			log "$target is up to date"
			return
		fi
		log "$target was built by another version of build.sh: rebuilding"
	fi
	build_from_debian "$target"
}

main() {
	command -v docker >/dev/null || die "docker is not installed"
	docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (is it running, and may this user use it?)"

	# Concurrent `make test` runs must not build twice (or delete each other's work).
	exec 9>"${TMPDIR:-/tmp}/zkrecipes-image-$(id -u).lock"
	if ! flock -n 9; then
		log "another build is running; waiting for it"
		flock 9
	fi

	if is_ours "$image"; then
		if ! image_exists "$image" && [[ "$image" == "$DEFAULT_IMAGE" ]] && try_pull "$OFFICIAL_IMAGE"; then
			docker tag "$OFFICIAL_IMAGE" "$image"
			log "using the official image: tagged $OFFICIAL_IMAGE as $image (ZK_IMAGE=$OFFICIAL_IMAGE works too)"
			return
		fi
		ensure_ours "$image"
		return
	fi

	if image_exists "$image"; then
		log "$image is present"
		return
	fi
	if try_pull "$image"; then
		log "ready: ZK_IMAGE=$image"
		return
	fi
	if is_official "$image"; then
		ensure_ours "$DEFAULT_IMAGE"
		die "$image is not available here, but $DEFAULT_IMAGE is: unset ZK_IMAGE (or set ZK_IMAGE=$DEFAULT_IMAGE) and run again"
	fi
	die "image $image is neither present nor pullable; unset ZK_IMAGE to build $DEFAULT_IMAGE"
}

main "$@"
