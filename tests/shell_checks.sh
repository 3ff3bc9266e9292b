# Counters and checks shared by the end-to-end shell tests (sourced; the
# test sets `bin` to the retroinfer binary).
failures=0
passes=0

fail() {
  echo "FAIL $1"
  failures=$((failures + 1))
}

# expect_failure NAME EXPECTED_MESSAGE_PART ARGS...: `$bin ARGS...` must exit
# non-zero (not by the 60 s timeout) with a message containing the part.
expect_failure() {
  local name="$1" expected="$2"
  shift 2
  local output status
  output="$(timeout 60 "$bin" "$@" 2>&1 </dev/null)"
  status=$?
  if [ "$status" -eq 0 ] || [ "$status" -ge 124 ] || ! grep -qiF -- "$expected" <<<"$output"; then
    fail "$name: exit $status, output: $output"
  else
    passes=$((passes + 1))
  fi
}

# Prints the totals; the status is the test's result.
finish() {
  echo "$passes passed, $failures failed"
  [ "$failures" -eq 0 ]
}
