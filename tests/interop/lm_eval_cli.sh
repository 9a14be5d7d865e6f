#!/usr/bin/env bash
# End to end, as a user runs it: PyTorch writes a GPT-2-format checkpoint and a token file and
# computes the loss; `thaw-lm eval` must print the same loss within 1e-4 relative. Then the
# command's bad-input paths: each gives one line on stderr and a non-zero exit.
set -euo pipefail
thaw_lm=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
expected=$(/usr/bin/python3 "$here/lm_eval_torch.py" "$dir" | awk '/^loss/ {print $2}')
got=$("$thaw_lm" eval --config "$dir/config.json" --weights "$dir/weights.safetensors" --tokens "$dir/tokens.bin" | tail -n 1)
echo "PyTorch: loss $expected   thaw-lm: $got"
[[ $got =~ ^loss\ [0-9]+\.[0-9]{6}$ ]] || { echo "last line is not 'loss X.XXXXXX'"; exit 1; }
/usr/bin/python3 -c "import sys; e, g = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(e - g) <= 1e-4 * abs(e) else 1)" "$expected" "${got#loss }" \
  || { echo "losses differ by more than 1e-4 relative"; exit 1; }

expect_error() {  # expect_error <substring> <args...>
  local want=$1; shift
  if "$thaw_lm" "$@" > "$dir/out" 2> "$dir/err"; then echo "succeeded but should fail: $*"; exit 1; fi
  [ "$(wc -l < "$dir/err")" -eq 1 ] || { echo "error is not one line: $(cat "$dir/err")"; exit 1; }
  grep -q -- "$want" "$dir/err" || { echo "error lacks '$want': $(cat "$dir/err")"; exit 1; }
}
expect_error "needs --config" eval --weights "$dir/weights.safetensors"
expect_error "cannot open config" eval --config /nonexistent.json --weights "$dir/weights.safetensors" --tokens "$dir/tokens.bin"
expect_error "unknown argument '--frobnicate'" eval --frobnicate
printf '\x01\x02\x03' > "$dir/odd.bin"
expect_error "not a whole number of uint16" eval --config "$dir/config.json" --weights "$dir/weights.safetensors" --tokens "$dir/odd.bin"
/usr/bin/python3 -c "import json; c = json.load(open('$dir/config.json')); c['n_head'] = 5; json.dump(c, open('$dir/bad.json', 'w'))"
expect_error "n_head (heads) 5" eval --config "$dir/bad.json" --weights "$dir/weights.safetensors" --tokens "$dir/tokens.bin"
/usr/bin/python3 -c "import json; c = json.load(open('$dir/config.json')); c['n_layer'] = 3; json.dump(c, open('$dir/deeper.json', 'w'))"
expect_error "missing 'h.2.ln_1.weight'" eval --config "$dir/deeper.json" --weights "$dir/weights.safetensors" --tokens "$dir/tokens.bin"
head -c 100 "$dir/weights.safetensors" > "$dir/truncated.safetensors"
expect_error "not a valid safetensors file" eval --config "$dir/config.json" --weights "$dir/truncated.safetensors" --tokens "$dir/tokens.bin"
"$thaw_lm" eval --help | grep -q "non-overlapping windows"
echo "thaw-lm eval: parity and error cases passed"
