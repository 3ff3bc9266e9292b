#!/usr/bin/env bash
# End-to-end checks of `retroinfer serve` over loopback with curl: the
# OpenAI-style endpoints (plain and streamed), errors and their codes, API
# keys, queue limits, client disconnects, continuous batching (concurrent
# greedy streams give exactly the text of the same requests run alone) and a
# clean exit on SIGTERM.
# Usage: server_test.sh RETROINFER_BINARY MODEL_PATH   (exit 77: skipped)
set -uo pipefail
bin="$1"
model="$2"
if [ ! -f "$model" ]; then
  echo "SKIP: no model at $model"
  exit 77
fi
command -v curl >/dev/null || { echo "SKIP: no curl"; exit 77; }
scratch="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT
failures=0
passes=0
check() {  # check NAME CONDITION_STATUS DETAILS
  if [ "$2" -eq 0 ]; then passes=$((passes + 1)); else
    echo "FAIL $1: $3"
    failures=$((failures + 1))
  fi
}
# json EXPRESSION < body: prints the Python expression over the parsed body `d`.
json() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# start_server NAME ARGS...: starts a server on a free port, sets $port.
start_server() {
  local name="$1"
  shift
  "$bin" serve -m "$model" -t 2 --port 0 "$@" >"$scratch/$name.out" 2>"$scratch/$name.log" &
  pids+=($!)
  server_pid=$!
  port=""
  for _ in $(seq 300); do
    port="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$scratch/$name.log")"
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "FAIL server $name did not start: $(cat "$scratch/$name.log")"
  exit 1
}
# post PATH BODY [CURL_ARGS...]: prints the body, then the status on the last line.
post() {
  local path="$1" body="$2"
  shift 2
  curl -s -w '\n%{http_code}' "$@" -H 'Content-Type: application/json' -d "$body" \
    "http://127.0.0.1:$port$path"
}
status_of() { tail -n 1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

start_server main -c 512 --max-body 100000
base="http://127.0.0.1:$port"

# Plain completion: greedy, exactly max_tokens, usage filled in.
reply="$(post /v1/completions '{"prompt": "The capital of France is", "max_tokens": 8}')"
check "completion status" "$([ "$(status_of "$reply")" = 200 ]; echo $?)" "$reply"
check "completion usage" "$([ "$(body_of "$reply" | json 'd["usage"]["completion_tokens"], d["choices"][0]["finish_reason"], d["object"]')" = "(8, 'length', 'text_completion')" ]; echo $?)" "$reply"

# Chat: the chat template is applied (the model answers the question).
chat_body='{"messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 24}'
reply="$(post /v1/chat/completions "$chat_body")"
answer="$(body_of "$reply" | json 'd["choices"][0]["message"]["content"]')"
check "chat answer" "$(grep -q Paris <<<"$answer"; echo $?)" "$reply"

# Streaming: chunks are OpenAI chunk JSON, the last is [DONE], and together
# they give the text of the same request unstreamed.
stream_body='{"messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 24, "stream": true}'
curl -sN -H 'Content-Type: application/json' -d "$stream_body" "$base/v1/chat/completions" >"$scratch/stream.txt"
check "stream ends with DONE" "$([ "$(grep -v '^$' "$scratch/stream.txt" | tail -n 1)" = "data: [DONE]" ]; echo $?)" "$(cat "$scratch/stream.txt")"
streamed="$(python3 - "$scratch/stream.txt" <<'PY'
import json, sys
text, objects, finish = "", set(), None
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.strip()
    if not line or line == "data: [DONE]":
        continue
    assert line.startswith("data: "), line
    chunk = json.loads(line[6:])
    objects.add(chunk["object"])
    choice = chunk["choices"][0]
    text += choice["delta"].get("content", "")
    finish = choice["finish_reason"] or finish
assert objects == {"chat.completion.chunk"}, objects
assert finish in ("stop", "length"), finish
sys.stdout.write(text)
PY
)"
check "stream text equals plain text" "$([ "$streamed" = "$answer" ]; echo $?)" "'$streamed' vs '$answer'"

# Models, metrics, chat page.
check "models" "$([ "$(curl -s "$base/v1/models" | json 'd["data"][0]["object"]')" = model ]; echo $?)" "models"
metrics="$(curl -s "$base/metrics")"
check "metrics" "$(grep -q '^retroinfer_requests_total{policy="full"} 3$' <<<"$metrics" && grep -q '^retroinfer_kv_pages_in_use 0$' <<<"$metrics"; echo $?)" "$metrics"
check "chat page" "$(curl -s "$base/" | grep -q '/v1/chat/completions'; echo $?)" "page"

# A sparse policy chosen per request is used and reported.
reply="$(post /v1/completions '{"prompt": "One, two, three, four, five, six, seven, eight, nine, ten, eleven", "max_tokens": 8, "attention": {"policy": "retro", "budget": 0.25, "window": 2}}')"
check "retro policy" "$([ "$(body_of "$reply" | json 'd["usage"]["retroinfer"]["policy"]')" = "retro:b=0.25:w=2:dense=2" ]; echo $?)" "$reply"

# Errors: status, and OpenAI's error object.
expect_error() {  # expect_error NAME STATUS PATH BODY
  local reply
  reply="$(post "$3" "$4")"
  check "$1" "$([ "$(status_of "$reply")" = "$2" ] && body_of "$reply" | json 'd["error"]["message"] and d["error"]["type"]' >/dev/null; echo $?)" "$reply"
}
expect_error "malformed json" 400 /v1/completions '{"prompt": "hi",'
expect_error "not an object" 400 /v1/completions '[1, 2]'
expect_error "missing prompt" 400 /v1/completions '{"max_tokens": 4}'
expect_error "wrong type" 400 /v1/completions '{"prompt": "hi", "max_tokens": "4"}'
expect_error "n = 2" 400 /v1/completions '{"prompt": "hi", "n": 2}'
expect_error "unknown policy" 400 /v1/completions '{"prompt": "hi", "attention": {"policy": "magic"}}'
expect_error "bad budget" 400 /v1/completions '{"prompt": "hi", "attention": {"policy": "quest", "budget": 0}}'
expect_error "bad temperature" 400 /v1/completions '{"prompt": "hi", "temperature": -1}'
expect_error "max_tokens too large" 400 /v1/completions '{"prompt": "hi", "max_tokens": 100000}'
expect_error "bad role" 400 /v1/chat/completions '{"messages": [{"role": "robot", "content": "hi"}]}'
long_prompt="$(python3 -c 'print(" ".join(["word"] * 2000))')"
expect_error "prompt longer than context" 400 /v1/completions "{\"prompt\": \"$long_prompt\"}"
python3 -c 'print("{\"prompt\": \"" + "a" * 150000 + "\"}")' >"$scratch/huge.json"
expect_error "body too large" 413 /v1/completions "@$scratch/huge.json"
expect_error "unknown route" 404 /v1/nothing '{}'

# Stop strings end the text before them.
reply="$(post /v1/completions '{"prompt": "1, 2, 3, 4,", "max_tokens": 16, "stop": [" 7"]}')"
check "stop string" "$([ "$(body_of "$reply" | json 'd["choices"][0]["finish_reason"], d["choices"][0]["text"]')" = "('stop', ' 5, 6,')" ]; echo $?)" "$reply"

# Continuous batching: 8 concurrent greedy streams give exactly the texts of
# the same requests run one after another, whatever policy each one uses.
prompts=("Once upon a time" "The best way to learn" "def fibonacci(n):" "Water boils at"
         "The capital of Italy" "My favourite recipe" "In 1492," "Dear diary,")
extras=("" "" "" ", \"attention\": {\"policy\": \"retro\", \"budget\": 0.5}"
        ", \"attention\": {\"policy\": \"quest\", \"budget\": 0.3}" ""
        ", \"attention\": {\"policy\": \"tova\", \"budget\": 4}"
        ", \"attention\": {\"policy\": \"streaming\", \"budget\": 8}")
run_stream() {  # run_stream INDEX OUTPUT
  curl -sN -H 'Content-Type: application/json' \
    -d "{\"prompt\": \"${prompts[$1]}\", \"max_tokens\": 24, \"stream\": true${extras[$1]}}" \
    "$base/v1/completions" | python3 -c '
import json, sys
sys.stdout.write("".join(json.loads(l[6:])["choices"][0]["text"] for l in sys.stdin
                         if l.startswith("data: {")))' >"$2"
}
for i in "${!prompts[@]}"; do run_stream "$i" "$scratch/alone$i.txt"; done
batch_pids=()
for i in "${!prompts[@]}"; do run_stream "$i" "$scratch/together$i.txt" & batch_pids+=($!); done
wait "${batch_pids[@]}"
for i in "${!prompts[@]}"; do
  check "batched stream $i" "$([ -s "$scratch/alone$i.txt" ] && cmp -s "$scratch/alone$i.txt" "$scratch/together$i.txt"; echo $?)" \
    "'$(cat "$scratch/alone$i.txt")' vs '$(cat "$scratch/together$i.txt")'"
done

# Counting goes on without an end-of-generation token.
long_body='{"prompt": "1, 2, 3, 4, 5,", "max_tokens": 400, "stream": true}'
# A client that goes away, streaming or not, cancels its request and frees
# its KV pages within half a second: well before the 512 tokens it asked for
# could have been generated (over a second even on an idle machine).
cancel_body="${long_body/400/512}"
for body in "$cancel_body" "${cancel_body/\"stream\": true/\"stream\": false}"; do
  curl -sN --max-time 1 -H 'Content-Type: application/json' -d "$body" \
    "$base/v1/completions" >/dev/null
  freed=1
  for _ in $(seq 5); do
    metrics="$(curl -s "$base/metrics")"
    if grep -q '^retroinfer_active_sequences 0$' <<<"$metrics" &&
       grep -q '^retroinfer_kv_pages_in_use 0$' <<<"$metrics"; then freed=0; break; fi
    sleep 0.1
  done
  check "disconnect frees the sequence ($body)" "$freed" "$metrics"
done

# SIGTERM: new requests get 503 while the one in flight finishes, then the
# server exits with status 0. The stream is long enough (seconds even on an
# idle machine) to still be running when the probe arrives.
curl -sN -H 'Content-Type: application/json' \
  -d '{"prompt": "1, 2, 3, 4, 5,", "max_tokens": 500, "stream": true}' \
  "$base/v1/completions" >"$scratch/last_stream.txt" &
last_stream=$!
sleep 0.5
kill -TERM "$server_pid"
sleep 0.2
reply="$(post /v1/completions '{"prompt": "hi", "max_tokens": 2}')"
check "503 while shutting down" "$([ "$(status_of "$reply")" = 503 ]; echo $?)" "$reply"
wait "$server_pid"
check "exit 0 on SIGTERM" "$?" "$(cat "$scratch/main.log")"
wait "$last_stream"
check "in-flight stream finished" "$(grep -q '"finish_reason":"length"' "$scratch/last_stream.txt" && grep -q '^data: \[DONE\]' "$scratch/last_stream.txt"; echo $?)" "$(tail -c 300 "$scratch/last_stream.txt")"

# API key and queue limits: one sequence at a time, one more may wait.
start_server guarded -c 512 --api-key secret --max-sequences 1 --max-queue 1
check "health without key" "$(curl -sf "http://127.0.0.1:$port/health" >/dev/null; echo $?)" "health"
reply="$(post /v1/completions '{"prompt": "hi", "max_tokens": 2}')"
check "401 without key" "$([ "$(status_of "$reply")" = 401 ]; echo $?)" "$reply"
reply="$(post /v1/completions '{"prompt": "hi", "max_tokens": 2}' -H 'Authorization: Bearer wrong')"
check "401 with a wrong key" "$([ "$(status_of "$reply")" = 401 ]; echo $?)" "$reply"
reply="$(post /v1/completions '{"prompt": "hi", "max_tokens": 2}' -H 'Authorization: Bearer secret')"
check "200 with the key" "$([ "$(status_of "$reply")" = 200 ]; echo $?)" "$reply"
for i in 1 2; do
  curl -sN --max-time 5 -H 'Authorization: Bearer secret' -d "$long_body" \
    "http://127.0.0.1:$port/v1/completions" >/dev/null &
  sleep 0.3
done
reply="$(post /v1/completions '{"prompt": "hi", "max_tokens": 2}' -H 'Authorization: Bearer secret')"
check "429 when the queue is full" "$([ "$(status_of "$reply")" = 429 ]; echo $?)" "$reply"

echo "server_test: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
