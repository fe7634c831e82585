#!/bin/bash
# make-bundles.sh: station bundles, for stations with no registry and a bad link: one
# archive per architecture, copied on a USB stick (run from the repository, with Docker).
#
# usage: deploy/bundle/make-bundles.sh [--arch amd64,arm64,armhf] [--out DIR]
#                                      [--image ARCH=IMAGE ...] [--as-version V]
#
# For each architecture it builds the image (docker build --platform, DOCKER_BUILDKIT=1;
# arm64 and armhf under emulation where this machine is not one: qemu-user-static and
# binfmt-support; docs/image.md), unless --image names one already built, and writes
# OUT/circadian-scp-upload-VERSION-ARCH.tar (default OUT: dist/) holding the folder
# circadian-scp-upload-VERSION-ARCH/ with
#   image.tar.gz            the image as `docker save` gives it, compressed
#                           (tagged circadian-scp-upload:VERSION-ARCH)
#   install-station.sh      the station's installer (OPERATOR.md, step 1)
#   docker-compose.yml .env.example station.env.example OPERATOR.md CHANGELOG.md
#   server/                 the server kit, with this version's wheel and requirements.lock
#                           (the admin's install-office.sh installs `fleet` from them)
#   VERSION ARCH SHA256SUMS
# --as-version V names the bundle V instead of pyproject.toml's version (the test suite
# walks an upgrade with it; never for stations).
# Environment: BASE_IMAGE (the Dockerfile's base, as a build ARG; per architecture
# BASE_IMAGE_ARM64, BASE_IMAGE_ARMHF), DOCKER (default: docker), PYTHON (one with pip, for
# the wheel; default python3).
set -euo pipefail

PROG=make-bundles.sh
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
DOCKER=${DOCKER:-docker}
say() { printf '%s: %s\n' "$PROG" "$1" >&2; }
die() {
    printf '%s: %s\n' "$PROG" "$1" >&2
    exit "${2:-1}"
}

arches=amd64,arm64,armhf
as_version=
out=$ROOT/dist
declare -A given=()
while (($#)); do
    case $1 in
    --arch) arches=$2; shift ;;
    --out) out=$2; shift ;;
    --as-version) as_version=$2; shift ;;
    --image)
        [[ $2 == *=* ]] || die "--image ARCH=IMAGE" 2
        given[${2%%=*}]=${2#*=}
        shift
        ;;
    -h | --help)
        sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument $1 (see --help)" 2 ;;
    esac
    shift
done
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml")
[[ -n $version ]] || die "no version in pyproject.toml"
wheel_version=$version
version=${as_version:-$version}
mkdir -p -- "$out"
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

say "the wheel of $wheel_version (for the server's fleet, and for library users)"
"${PYTHON:-python3}" -m pip wheel -q --disable-pip-version-check --no-deps -w "$work/wheel" "$ROOT" >&2
wheel=$(ls "$work"/wheel/circadian_scp_upload-"$wheel_version"-*.whl)

IFS=, read -r -a wanted <<<"$arches"
for arch in "${wanted[@]}"; do
    case $arch in
    amd64) platform=linux/amd64 base=${BASE_IMAGE:-} ;;
    arm64) platform=linux/arm64 base=${BASE_IMAGE_ARM64:-${BASE_IMAGE:-}} ;;
    armhf) platform=linux/arm/v7 base=${BASE_IMAGE_ARMHF:-${BASE_IMAGE:-}} ;;
    *) die "--arch $arch: amd64, arm64 or armhf" 2 ;;
    esac
    tag="circadian-scp-upload:$version-$arch"
    if [[ -n ${given[$arch]:-} ]]; then
        "$DOCKER" tag "${given[$arch]}" "$tag"
        say "$arch: the image ${given[$arch]}, tagged $tag"
    else
        say "$arch: building $tag for $platform"
        DOCKER_BUILDKIT=1 "$DOCKER" build --platform "$platform" \
            ${base:+--build-arg "BASE_IMAGE=$base"} -t "$tag" "$ROOT" >&2
    fi
    labelled=$("$DOCKER" image inspect -f '{{.Architecture}}{{with .Variant}}/{{.}}{{end}}' "$tag")
    case $arch:$labelled in
    amd64:amd64 | arm64:arm64* | armhf:arm/v7 | armhf:arm) ;;
    *) die "$tag is labelled $labelled, not $arch" ;;
    esac
    name=circadian-scp-upload-$version-$arch
    folder=$work/$name
    mkdir -p -- "$folder/server"
    "$DOCKER" save "$tag" | gzip -6 >"$folder/image.tar.gz"
    install -m 0755 -- "$ROOT/deploy/install-station.sh" "$folder/install-station.sh"
    for file in docker-compose.yml .env.example station.env.example OPERATOR.md; do
        install -m 0644 -- "$ROOT/deploy/$file" "$folder/$file"
    done
    install -m 0644 -- "$ROOT/CHANGELOG.md" "$folder/CHANGELOG.md"
    for file in "$ROOT"/deploy/server/*; do
        install -m "$([[ -x $file ]] && echo 0755 || echo 0644)" -- "$file" "$folder/server/"
    done
    install -m 0644 -- "$wheel" "$ROOT/requirements.lock" "$folder/server/"
    echo "$version" >"$folder/VERSION"
    echo "$arch" >"$folder/ARCH"
    (cd "$folder" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs sha256sum >SHA256SUMS)
    tar -C "$work" -cf "$out/$name.tar" "$name"
    rm -rf -- "$folder"
    say "$arch: $out/$name.tar ($(du -h "$out/$name.tar" | cut -f1))"
done
