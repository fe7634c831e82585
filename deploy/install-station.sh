#!/bin/bash
# install-station.sh: put circadian-scp-upload on this station from a station bundle (run
# as root: sudo). From the bundle's folder (circadian-scp-upload-VERSION-ARCH/):
#
#   sudo ./install-station.sh --station station-07 --data /srv/instrument-data \
#       --host data.example.org --dst /srv/upload/station-07 --timezone Europe/Berlin
#
# 1. loads the image (image.tar.gz: `docker load`, no registry) and tags it
#    circadian-scp-upload:VERSION;
# 2. lays out the station's folder (default /opt/circadian-scp-upload; --dir): the compose
#    file, .env and station.env from their examples, this bundle's OPERATOR.md and
#    CHANGELOG.md; .env gets COMPOSE_PROJECT_NAME=circadian-scp-upload, so the state
#    volume (the station's only key, its known hosts, its status) is always
#    circadian-scp-upload_state, whatever the folder is called;
# 3. fills in what it was told (.env: the station, the image, the data folder and its
#    owner; station.env: server, account, destination, time zone), and prints the next
#    step.
# Run again with a newer bundle, it upgrades: the new image is loaded, CSU_IMAGE points at
# it (the old image stays, for a rollback), .env and station.env keep every other value,
# and a running agent is restarted on the new image; then `check --write`.
set -euo pipefail

PROG=install-station.sh
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
PROJECT=circadian-scp-upload

say() { printf '%s: %s\n' "$PROG" "$1"; }
die() {
    printf '%s: %s\n' "$PROG" "$1" >&2
    exit "${2:-1}"
}
usage() {
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

options: --dir DIR (default /opt/circadian-scp-upload) --station NAME --data DIR
         --host HOST --user USER (default: the station's name) --dst REMOTE-DIR
         --timezone ZONE --remove-after-upload (default: keep local files)
EOF
}

dir=/opt/circadian-scp-upload
station= data= host= user= dst= zone= remove=
while (($#)); do
    case $1 in
    --dir | --station | --data | --host | --user | --dst | --timezone)
        (($# >= 2)) || die "$1 needs a value" 2
        case $1 in
        --dir) dir=$2 ;;
        --station) station=$2 ;;
        --data) data=$2 ;;
        --host) host=$2 ;;
        --user) user=$2 ;;
        --dst) dst=$2 ;;
        --timezone) zone=$2 ;;
        esac
        shift
        ;;
    --remove-after-upload) remove=true ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) die "unknown argument $1 (see --help)" 2 ;;
    esac
    shift
done
((EUID == 0)) || die "run me as root: sudo $0 ..."
version=$(cat "$HERE/VERSION" 2>/dev/null) || die "$HERE/VERSION is missing: run me from an unpacked station bundle"
arch=$(cat "$HERE/ARCH")
image="$PROJECT:$version"

# What is said must be plain: each value goes into a compose .env file as it is.
plain='^[A-Za-z0-9._/+@:-]*$'
for pair in "station=$station" "data=$data" "host=$host" "user=$user" "dst=$dst" "timezone=$zone" "dir=$dir"; do
    [[ ${pair#*=} =~ $plain ]] || die "--${pair%%=*} ${pair#*=}: letters, digits and ._/+@:- only" 2
done
[[ -z $station || $station =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]] ||
    die "--station $station: a name of letters, digits, . _ - (it is the container's host name)" 2
# the station's own folder: absolute, at least two levels down, new, empty or already one
[[ $dir == /*/* && /$dir/ != */../* ]] ||
    die "--dir $dir: give an absolute folder of its own, such as /opt/circadian-scp-upload" 2
if [[ -d $dir && ! -f $dir/.env && -n $(ls -A -- "$dir") ]]; then
    die "--dir $dir holds other things and no station: give a folder of its own" 2
fi
if [[ -n $data ]]; then
    [[ $data == /* && -d $data ]] ||
        die "--data $data: no such folder (give the instrument's data folder, absolute)" 2
fi
upgrade=no
[[ -f $dir/.env ]] && upgrade=yes
if [[ $upgrade == no ]]; then
    for option in station data host dst timezone; do
        value=
        case $option in
        station) value=$station ;; data) value=$data ;; host) value=$host ;;
        dst) value=$dst ;; timezone) value=$zone ;;
        esac
        [[ -n $value ]] || die "--$option is needed for a new station (see --help)" 2
    done
fi

# docker, and compose (v2 `docker compose`, or Debian's docker-compose 1.29)
command -v docker >/dev/null || die "no docker here: install it first (Debian, Raspberry Pi OS: apt-get install docker.io docker-compose)"
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
else
    die "no compose: apt-get install docker-compose (or Docker's compose plugin)"
fi
machine=$(dpkg --print-architecture 2>/dev/null || uname -m)
case $machine in aarch64) machine=arm64 ;; x86_64) machine=amd64 ;; armv7l) machine=armhf ;; esac
[[ $machine == "$arch" ]] ||
    say "warning: this bundle is for $arch, this machine is $machine: it runs only under emulation (qemu-user-static), slowly"

# 1. the image, after checking every file of the bundle (a USB stick may have lost a byte)
if [[ -f $HERE/SHA256SUMS ]]; then
    (cd -- "$HERE" && sha256sum -c --quiet SHA256SUMS) ||
        die "the bundle is damaged (SHA256SUMS does not match): copy it again"
    say "the bundle's files match SHA256SUMS"
fi
say "loading the image $image ($arch) from $HERE/image.tar.gz"
loaded=$(gunzip -c "$HERE/image.tar.gz" | docker load)
printf '%s\n' "$loaded"
docker tag "$PROJECT:$version-$arch" "$image"
say "tagged $image"

# 2. the folder
install -d -m 0755 -- "$dir"
for file in docker-compose.yml .env.example station.env.example OPERATOR.md CHANGELOG.md; do
    install -m 0644 -- "$HERE/$file" "$dir/$file"
done
if [[ $upgrade == no ]]; then
    cp -- "$dir/.env.example" "$dir/.env"
    cp -- "$dir/station.env.example" "$dir/station.env"
    chmod 0600 -- "$dir/station.env"
fi

# set FILE NAME VALUE: NAME=VALUE in FILE, replacing its line or adding one
set_value() {
    if grep -q "^$2=" "$1"; then
        sed -i "s|^$2=.*|$2=$3|" "$1"
    else
        printf '%s=%s\n' "$2" "$3" >>"$1"
    fi
}
set_value "$dir/.env" COMPOSE_PROJECT_NAME "$PROJECT"
old_image=$(sed -n 's/^CSU_IMAGE=//p' "$dir/.env")
set_value "$dir/.env" CSU_IMAGE "$image"
[[ -z $station ]] || set_value "$dir/.env" CSU_STATION "$station"
if [[ -n $data ]]; then
    set_value "$dir/.env" CSU_DATA_DIR "$data"
    set_value "$dir/.env" CSU_UID "$(stat -c %u -- "$data")"
    set_value "$dir/.env" CSU_GID "$(stat -c %g -- "$data")"
fi
[[ -z $host ]] || set_value "$dir/station.env" CSU_HOST "$host"
[[ -z $user && -z $station ]] || set_value "$dir/station.env" CSU_USER "${user:-$station}"
[[ -z $dst ]] || set_value "$dir/station.env" CSU_DST "$dst"
[[ -z $zone ]] || set_value "$dir/station.env" CSU_TIMEZONE "$zone"
[[ -z $remove ]] || set_value "$dir/station.env" CSU_REMOVE_AFTER_UPLOAD true
if [[ -n ${SUDO_USER:-} && $SUDO_USER != root ]]; then
    chown -R -- "$SUDO_USER:" "$dir"
    id -nG "$SUDO_USER" | tr ' ' '\n' | grep -qx docker ||
        say "note: $SUDO_USER is not in the group docker: run 'sudo usermod -aG docker $SUDO_USER' and log in again, or put sudo before docker compose"
fi
say "the station's folder: $dir (compose project $PROJECT; its state volume ${PROJECT}_state)"

# 3. an upgrade restarts a running agent; a new station is told the next step
cd -- "$dir"
if [[ $upgrade == yes ]]; then
    say "upgraded: CSU_IMAGE $old_image -> $image (roll back: set it back in .env, then ${compose[*]} up -d)"
    if [[ -n $("${compose[@]}" ps -q 2>/dev/null) ]]; then
        "${compose[@]}" up -d
        say "the agent runs on $image"
    fi
    cat <<EOF

Next: prove the path with the new version (CHANGELOG.md says what changed):
  cd $dir && ${compose[*]} run --rm circadian-scp-upload check --write
EOF
else
    cat <<EOF

Next (OPERATOR.md, step 2): the station's key, as a file for the server's admin:
  cd $dir && ${compose[*]} run --rm -T circadian-scp-upload enroll --public-key > ${user:-$station}.pub
EOF
fi
