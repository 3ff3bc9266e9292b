#!/usr/bin/env python3
"""The built-in chat page in a real browser: headless Chromium, driven over
the DevTools protocol, loads `/` from `retroinfer serve`, types a question,
presses Send and must see the answer stream in, followed by the info line
(policy, tokens/s, effective KV exposure). Exits 77 (skipped) without
Chromium, the websocket-client package or the model.

Usage: chat_page_test.py RETROINFER_BINARY MODEL_PATH
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import websocket
except ImportError:
    print("SKIP: the websocket-client package is not installed")
    sys.exit(77)


def wait_for_line(stream, pattern, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        line = stream.readline()
        if not line:
            time.sleep(0.05)
            continue
        match = re.search(pattern, line)
        if match:
            return match
    return None


class DevTools:
    def __init__(self, url):
        self.socket = websocket.create_connection(url, timeout=30)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        return result.get("result", {}).get("value")


def main():
    binary, model = sys.argv[1], sys.argv[2]
    browser_binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_binary is None:
        print("SKIP: chromium is not installed")
        return 77
    if not os.path.exists(model):
        print("SKIP: model missing")
        return 77
    server = subprocess.Popen([binary, "serve", "-m", model, "-t", "2", "--port", "0", "-c", "1024"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    profile = tempfile.mkdtemp()
    browser = None
    try:
        match = wait_for_line(server.stderr, r"listening on (127\.0\.0\.1:\d+)", 60)
        if match is None:
            print("FAIL: the server did not start")
            return 1
        page_url = f"http://{match.group(1)}/"
        browser = subprocess.Popen(
            [browser_binary, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        match = wait_for_line(browser.stderr, r"DevTools listening on (ws://\S+)", 60)
        if match is None:
            print("FAIL: chromium did not start")
            return 1
        # The browser-wide endpoint; open a page target and attach to it.
        browser_tools = DevTools(match.group(1))
        target = browser_tools.call("Target.createTarget", url=page_url)["targetId"]
        page_ws = match.group(1).split("/devtools/")[0] + f"/devtools/page/{target}"
        page = DevTools(page_ws)
        page.call("Runtime.enable")
        deadline = time.time() + 30
        while time.time() < deadline and not page.evaluate("!!document.getElementById('send')"):
            time.sleep(0.2)
        page.evaluate("document.getElementById('policy').value = 'retro';"
                      "document.getElementById('budget').value = '1';"
                      "document.getElementById('max').value = '32';"
                      "document.getElementById('temperature').value = '0';"
                      "document.getElementById('input').value = 'What is the capital of France?';"
                      "document.getElementById('send').click(); true")
        seen_partial = False
        answer = info = ""
        deadline = time.time() + 120
        while time.time() < deadline:
            answer = page.evaluate("(document.querySelector('#log .assistant') || {}).textContent || ''")
            info = page.evaluate("(document.querySelector('#log .info') || {}).textContent || ''")
            if answer and not info:
                seen_partial = True  # text arrived before the final chunk
            if info:
                break
            time.sleep(0.05)
        checks = {
            "the answer streamed in": bool(answer),
            "the answer names Paris": "Paris" in answer,
            "the info line shows the policy": info.startswith("retro:"),
            "the info line shows tokens/s": "tok/s" in info,
            "the info line shows the exposure": "effective KV exposure" in info,
        }
        failed = [name for name, ok in checks.items() if not ok]
        print(f"answer: {answer!r}\ninfo: {info!r}\nstreamed before the end: {seen_partial}")
        print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
        for name in failed:
            print("FAIL:", name)
        return 1 if failed else 0
    finally:
        if browser is not None:
            browser.kill()
            browser.wait()
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
