// The built-in chat page served at "/": plain HTML and JavaScript that stream
// answers from /v1/chat/completions and show, per answer, the attention policy,
// decode tokens/s and effective KV exposure (from usage.retroinfer).
#pragma once

#include <string_view>

namespace ri::server {

inline constexpr std::string_view kChatPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>retroinfer chat</title>
<style>
body{font-family:sans-serif;max-width:48em;margin:1em auto;padding:0 1em}
#log div{margin:.5em 0;white-space:pre-wrap}.user{font-weight:bold}.info{color:#666;font-size:.85em}
textarea{width:100%;height:4em}label{margin-right:1em}
</style></head><body>
<h1>retroinfer</h1>
<div>
<label>policy <select id="policy"><option value="">server default</option><option>full</option>
<option>quest</option><option>streaming</option><option>tova</option><option>retro</option></select></label>
<label>budget <input id="budget" size="6" placeholder="0.1"></label>
<label>window <input id="window" size="3" placeholder="2"></label>
<label>max tokens <input id="max" size="5" value="256"></label>
<label>temperature <input id="temperature" size="4" placeholder="1.0"></label>
<label>API key <input id="key" size="12" type="password"></label>
</div>
<div id="log"></div>
<textarea id="input" placeholder="Message (Enter sends, Shift+Enter for a new line)"></textarea>
<button id="send">Send</button> <button id="clear">New chat</button>
<script>
const messages = [];
const log = document.getElementById('log');
const input = document.getElementById('input');
function line(cls, text) {
  const div = document.createElement('div'); div.className = cls; div.textContent = text;
  log.appendChild(div); return div;
}
async function send() {
  const text = input.value.trim(); if (!text) return;
  input.value = ''; messages.push({role: 'user', content: text}); line('user', text);
  const answer = line('assistant', ''); const info = line('info', '');
  const body = {messages, stream: true, max_tokens: parseInt(document.getElementById('max').value) || 256};
  const temperature = document.getElementById('temperature').value;
  if (temperature) body.temperature = parseFloat(temperature);
  const policy = document.getElementById('policy').value;
  if (policy) {
    body.attention = {policy};
    const budget = document.getElementById('budget').value, win = document.getElementById('window').value;
    if (budget) body.attention.budget = parseFloat(budget);
    if (win) body.attention.window = parseInt(win);
  }
  const headers = {'Content-Type': 'application/json'};
  const key = document.getElementById('key').value; if (key) headers.Authorization = 'Bearer ' + key;
  const response = await fetch('/v1/chat/completions', {method: 'POST', headers, body: JSON.stringify(body)});
  if (!response.ok) { info.textContent = 'error: ' + (await response.json()).error.message; messages.pop(); return; }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const {value, done} = await reader.read(); if (done) break;
    buffer += value; const events = buffer.split('\n\n'); buffer = events.pop();
    for (const event of events) {
      const data = event.replace(/^data: /, ''); if (data === '[DONE]') continue;
      const chunk = JSON.parse(data);
      if (chunk.error) { info.textContent = 'error: ' + chunk.error.message; continue; }
      answer.textContent += chunk.choices[0].delta.content || '';
      const usage = chunk.usage && chunk.usage.retroinfer;
      if (usage) {
        const exposure = usage.effective_kv_exposure;
        info.textContent = `${usage.policy} | ${usage.decode_tokens_per_second.toFixed(1)} tok/s | ` +
            `${chunk.usage.completion_tokens} tokens | effective KV exposure: ` +
            (exposure === null ? 'n/a' : exposure.toFixed(3) + ' x budget');
      }
    }
  }
  messages.push({role: 'assistant', content: answer.textContent});
}
document.getElementById('send').onclick = send;
document.getElementById('clear').onclick = () => { messages.length = 0; log.textContent = ''; };
input.addEventListener('keydown', e => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); send(); } });
</script></body></html>
)html";

}  // namespace ri::server
