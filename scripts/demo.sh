#!/usr/bin/env bash
# The main job on the embedded synthetic data. Usage: scripts/demo.sh RUN_ROOT
set -euo pipefail
ROOT="${1:-runs/demo}"
BIN=.venv/bin
mkdir -p "$ROOT"
echo "== 1/3 generate synthetic data"
$BIN/recsys-tf data synth --out "$ROOT/data/raw"
echo "== 2/3 validate and describe"
$BIN/recsys-tf data validate "$ROOT/data/raw"
$BIN/recsys-tf data stats "$ROOT/data/raw"
echo "== 3/3 split (temporal-last)"
$BIN/recsys-tf data split "$ROOT/data/raw" --out "$ROOT/data/split"
