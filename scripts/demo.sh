#!/usr/bin/env bash
# The main job on the embedded synthetic data: generate -> validate -> split -> train (MiniLM text
# tower, frozen, cached) -> evaluate vs baselines -> export (brute force + ScaNN) -> audit -> query.
# Usage: scripts/demo.sh [RUN_ROOT]   (make demo)
set -euo pipefail
ROOT="${1:-runs/demo}"
BIN=.venv/bin
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$ROOT"
# the demo starts over each time (a run dir only resumes with the same config); the text cache survives
rm -rf "$ROOT/run" "$ROOT/run_id_only" "$ROOT/report" "$ROOT/exports"
step() { echo; echo "== $*"; }
step "1/8 generate synthetic e-commerce data"
$BIN/recsys-tf data synth --out "$ROOT/data/raw"
step "2/8 validate and describe"
$BIN/recsys-tf data validate "$ROOT/data/raw"
$BIN/recsys-tf data stats "$ROOT/data/raw" | tail -n 4
step "3/8 split (temporal-last: each user's last event is test, the one before validation)"
$BIN/recsys-tf data split "$ROOT/data/raw" --out "$ROOT/data/split"
step "4/8 train (text tower: all-MiniLM-L6-v2, frozen, embeddings cached)"
$BIN/recsys-tf train --data "$ROOT/data/split" --out "$ROOT/run" --set text.cache_dir="$ROOT/text_cache" 2>&1 | grep -v "^WARNING\|^I0000\|^W0000\|cuda\|cpu_feature\|rebuild TensorFlow"
step "5/8 evaluate against the ID-only ablation and popularity, item-kNN, EASE, BM25, zero-shot text"
$BIN/recsys-tf train --data "$ROOT/data/split" --out "$ROOT/run_id_only" --set model.use_text=false 2>&1 | grep "^epoch=" | tail -n 1
$BIN/recsys-tf evaluate --run "$ROOT/run" --ablation id_only="$ROOT/run_id_only" --out "$ROOT/report" 2>&1 | grep -v "^WARNING\|^I0000\|^W0000\|cuda\|cpu_feature\|rebuild TensorFlow"
step "6/8 export for TF Serving: brute force (stock image) and ScaNN"
$BIN/recsys-tf export --run "$ROOT/run" --index brute_force --export-root "$ROOT/exports" --model-name recsys 2>&1 | grep "exported\|recall"
$BIN/recsys-tf export --run "$ROOT/run" --index scann --export-root "$ROOT/exports" --model-name recsys_scann 2>&1 | grep "exported\|recall"
step "7/8 op audit"
$BIN/recsys-tf export check "$ROOT/exports/recsys/1" 2>&1 | tail -n 1
$BIN/recsys-tf export check "$ROOT/exports/recsys_scann/1" 2>&1 | tail -n 1
step "8/8 query the exported SavedModel"
MODEL="file://$ROOT/exports/recsys/1"
echo "-- search: noise cancelling earbuds"
$BIN/recsys-tf query --endpoint "$MODEL" --catalog "$ROOT/data/raw" --k 5 search "noise cancelling earbuds" 2>/dev/null
USER_ID=$($BIN/python -c "import pandas as pd; e=pd.read_parquet('$ROOT/data/split/events.parquet'); print(e[e.split=='test'].user_id.iloc[0])")
HISTORY=$($BIN/python -c "import pandas as pd; e=pd.read_parquet('$ROOT/data/split/events.parquet'); e=e[(e.user_id=='$USER_ID')&(e.split=='train')]; print(','.join(e.item_id.tail(5)))")
echo "-- recommend for $USER_ID (history $HISTORY)"
$BIN/recsys-tf query --endpoint "$MODEL" --catalog "$ROOT/data/raw" --k 5 recommend --user "$USER_ID" --history "$HISTORY" 2>/dev/null
FIRST=${HISTORY%%,*}
echo "-- similar to $FIRST"
$BIN/recsys-tf query --endpoint "$MODEL" --catalog "$ROOT/data/raw" --k 5 similar "$FIRST" 2>/dev/null
echo
echo "Report: $ROOT/report/report.md (plots next to it)   TensorBoard: .venv/bin/tensorboard --logdir $ROOT/run/logs"
