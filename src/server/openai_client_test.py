#!/usr/bin/env python3
"""The official `openai` Python client against `retroinfer serve`: plain and
streamed chat and completions, the extra `attention` field, usage, and the
client's exception types for errors. Exits 77 (skipped) without the package
or the model.

Usage: openai_client_test.py RETROINFER_BINARY MODEL_PATH
"""
import os
import re
import subprocess
import sys
import time

try:
    import openai
except ImportError:
    print("SKIP: the openai package is not installed (pip install openai)")
    sys.exit(77)


def start_server(binary, model):
    server = subprocess.Popen(
        [binary, "serve", "-m", model, "-t", "2", "--port", "0", "-c", "512",
         "--api-key", "test-key"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = server.stderr.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            return server, int(match.group(1))
        if not line and server.poll() is not None:
            break
    server.kill()
    sys.exit("the server did not start")


def main():
    binary, model = sys.argv[1], sys.argv[2]
    if not os.path.exists(model):
        print(f"SKIP: no model at {model}")
        return 77
    server, port = start_server(binary, model)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="test-key",
                               max_retries=0)
        question = [{"role": "user", "content": "What is the capital of France?"}]

        models = client.models.list()
        assert len(models.data) == 1 and models.data[0].object == "model", models

        chat = client.chat.completions.create(model=models.data[0].id, messages=question,
                                              max_tokens=24, temperature=0)
        answer = chat.choices[0].message.content
        assert "Paris" in answer, answer
        assert chat.usage.completion_tokens > 0 and chat.usage.prompt_tokens > 0, chat.usage

        stream = client.chat.completions.create(model="any", messages=question, max_tokens=24,
                                                temperature=0, stream=True)
        pieces, finish, usage = [], None, None
        for chunk in stream:
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
            usage = getattr(chunk, "usage", None) or usage
        assert "".join(pieces) == answer, ("".join(pieces), answer)
        assert finish in ("stop", "length"), finish
        assert usage is not None and usage.completion_tokens == chat.usage.completion_tokens

        completion = client.completions.create(
            model="any", prompt="1, 2, 3, 4, 5,", max_tokens=8, temperature=0,
            extra_body={"attention": {"policy": "retro", "budget": 0.5, "window": 2}})
        assert completion.choices[0].finish_reason == "length", completion
        assert completion.usage.completion_tokens == 8, completion.usage
        assert completion.usage.model_extra["retroinfer"]["policy"].startswith("retro:b=0.5"), \
            completion.usage

        for bad, error_type in [({"n": 2}, openai.BadRequestError),
                                ({"extra_body": {"attention": {"policy": "magic"}}},
                                 openai.BadRequestError)]:
            try:
                client.completions.create(model="any", prompt="hi", max_tokens=2, **bad)
            except error_type as error:
                assert error.status_code == 400 and error.body["message"], error
            else:
                raise AssertionError(f"{bad} was accepted")

        unauthorized = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong",
                                     max_retries=0)
        try:
            unauthorized.models.list()
        except openai.AuthenticationError:
            pass
        else:
            raise AssertionError("a wrong API key was accepted")
    finally:
        server.terminate()
        status = server.wait(timeout=60)
    assert status == 0, f"server exit status {status}"
    print("openai_client_test: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
