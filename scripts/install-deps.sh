#!/bin/sh
# Installs the Debian 12 packages privedge needs to build, test and run its demo.
# Idempotent: packages already present are left alone. Run as root (or through sudo).
set -eu

PACKAGES="
  build-essential cmake make pkg-config
  libprotobuf-dev protobuf-compiler libonnx-dev
  libsodium-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libonnx-testdata libdnnl-dev
  zlib1g-dev libssl-dev libtss2-dev swtpm swtpm-tools
  libseccomp-dev clang libclang-rt-14-dev libomp-dev
  dataset-fashion-mnist
  libgrpc++-dev protobuf-compiler-grpc libsqlite3-dev
  python3
"
# Python tools that generate test models and reference outputs (never needed at run time).
TOOL_PACKAGES="python3 python3-numpy python3-onnx"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ "${PRIVEDGE_WITH_TOOLS:-0}" = "1" ]; then
  for p in $TOOL_PACKAGES python3-torch python3-torchvision; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
fi

if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-deps: missing packages:$missing; run this script as root" >&2
    exit 1
  fi
fi
echo "install-deps: installing$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
