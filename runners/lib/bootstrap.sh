# Sourced by runners/run and runners/test: makes a fresh machine ready.
# 1. System packages (clang, bpftool, ssh, qemu, mmdebstrap...): installed with apt when
#    we are root on Debian/Ubuntu, otherwise we stop and print the exact command.
# 2. A virtualenv in .venv with kmatrix installed, refreshed when pyproject.toml changes.
set -euo pipefail
KM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KM_VENV=${KMATRIX_VENV:-$KM_ROOT/.venv}

KM_APT_PKGS="clang llvm bpftool libbpf-dev openssh-client openssh-server \
qemu-system-x86 qemu-system-arm qemu-system-misc qemu-user-static binfmt-support \
mmdebstrap cpio xz-utils zstd e2fsprogs iproute2 chromium gcc make linux-perf arch-test kmod qemu-utils \
sudo"

km_missing_pkgs() {
    local missing=() c
    # command -> package; checking commands is fast and works on non-Debian too.
    for c in clang:clang llvm-strip:llvm bpftool:bpftool ssh:openssh-client \
             /usr/sbin/sshd:openssh-server qemu-system-x86_64:qemu-system-x86 \
             qemu-system-aarch64:qemu-system-arm qemu-system-riscv64:qemu-system-misc \
             qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support \
             mmdebstrap:mmdebstrap cpio:cpio xz:xz-utils zstd:zstd mkfs.ext4:e2fsprogs ip:iproute2 chromium:chromium \
             gcc:gcc make:make perf:linux-perf arch-test:arch-test \
             depmod:kmod qemu-img:qemu-utils sudo:sudo; do
        command -v "${c%%:*}" >/dev/null 2>&1 || [ -x "${c%%:*}" ] || missing+=("${c##*:}")
    done
    [ -f /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
    echo "${missing[@]:-}"
}

km_system_deps() {
    local missing
    missing=$(km_missing_pkgs)
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "kmatrix: installing system packages with apt-get: $missing" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >&2
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $KM_APT_PKGS >&2
    else
        echo "kmatrix: missing system packages: $missing" >&2
        echo "kmatrix: install them with:  sudo apt-get install -y $KM_APT_PKGS" >&2
        exit 2
    fi
}

km_venv() {
    # A venv made for more extras serves a command that needs fewer: the stamp holds
    # pyproject.toml's hash and the extras installed, so runners/run after
    # runners/test reinstalls nothing.
    local extras=$1 stamp want have py e
    py=${PYTHON:-python3}
    want=$(sha256sum < "$KM_ROOT/pyproject.toml" | cut -d' ' -f1)
    stamp=$KM_VENV/.kmatrix-stamp
    if [ -x "$KM_VENV/bin/python" ] && [ "$(head -n1 "$stamp" 2>/dev/null)" = "$want" ]; then
        have=$(sed -n 2p "$stamp")
        local missing=""
        for e in ${extras//,/ }; do
            case ",$have," in *",$e,"*) ;; *) missing=1 ;; esac
        done
        [ -z "$missing" ] && return 0
        extras="$have,$extras"
    fi
    echo "kmatrix: preparing virtualenv $KM_VENV ($extras)" >&2
    [ -x "$KM_VENV/bin/python" ] || "$py" -m venv "$KM_VENV" >&2
    "$KM_VENV/bin/python" -m pip install -q --upgrade pip >&2 || true
    "$KM_VENV/bin/python" -m pip install -q -e "$KM_ROOT[$extras]" >&2
    printf '%s\n%s\n' "$want" "$extras" > "$stamp"
}
