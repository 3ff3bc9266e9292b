#!/usr/bin/env python3
"""Writes the tokenizer goldens in tests/golden/tokenizer/ from independent
implementations (Hugging Face transformers/tokenizers, sentencepiece, the
`regex` module, jinja2, Python's UTF-8 codec). Run with the reference env:

    /tmp/refenv/bin/python tools/reference/make_tokenizer_golden.py

Outputs:
  smollm2_bpe.json        ids of the SmolLM2 GGUF tokenizer (see NOTE below)
  pretokenizer_splits.json pre-token splits for the gpt2 / llama3 / qwen2 /
                          smollm regexes (regex.findall on the official strings)
  spm_tiny.gguf           a tokenizer-only GGUF (llama / SentencePiece BPE)
                          trained here with sentencepiece on public-domain books
  spm_tiny.json           sentencepiece ids / decodes for it, plus transformers
                          ids for texts with special tokens
  chat_templates.json     chat prompts rendered by transformers (SmolLM2's own
                          template) and by jinja2 (Llama 3 / Mistral / Gemma)
  utf8_replace.json       random byte strings and bytes.decode('utf-8', 'replace')

NOTE on SmolLM2: the model's own tokenizer.json pre-tokenizes with
Sequence[Digits(individual_digits=True), ByteLevel(use_regex=True)] (llama.cpp
calls this pre-tokenizer "smollm": "\\p{N}" then the GPT-2 regex), but
transformers' GGUF converter rebuilds only ByteLevel and drops the digit split.
The two differ when whitespace precedes a digit ("a  1": 'a','ĠĠ','1' versus
'a','Ġ','Ġ1'->'Ġ','1'). The goldens use the model's real pre-tokenizer (set on
the transformers tokenizer built from the GGUF); the plain GGUF-converter ids
are stored as `ids_transformers_gguf` where they differ, for the record.
"""

import json
import os
import random
import sys
import tempfile

import gguf
import jinja2
import regex
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2
from tokenizers import pre_tokenizers
from transformers import AutoTokenizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "golden", "tokenizer")
MODEL_DIR = os.path.join(ROOT, "models")
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BOOKS = "/work/shared/data/books"

# Official pre-tokenizer regexes (GPT-2 as in HF ByteLevel; Llama 3 = tiktoken
# cl100k-style; Qwen2 = Llama 3 with single digits).
GPT2_RE = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_RE = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2_RE = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
DIGIT_RE = r"\p{N}"


def book_body(name):
    with open(os.path.join(BOOKS, name + ".txt"), encoding="utf-8", newline="") as f:
        text = f.read()
    start = text.index("\n", text.index("*** START")) + 1
    return text[start:text.index("*** END")]


def book_paragraph(name, skip, length):
    """About `length` characters of running text (CRLF kept), line-aligned."""
    body = book_body(name)
    start = body.index("\r\n\r\n", skip) + 4
    end = body.index("\r\n", start + length)
    return body[start:end]


def text_cases():
    return [
        ("ascii", "Hello world! This is a simple test."),
        ("accents", "Café naïve résumé — Ångström, São Paulo, Zürich, façade, ÉCOLE"),
        ("cjk", "日本語のテキストと中文文本，还有한국어 텍스트。"),
        ("emoji", "I love 🍕 and 🎉! Family: 👨‍👩‍👧‍👦, flags 🇫🇷🇯🇵, skin 👍🏽, ❤️"),
        ("code", "def foo(x):\n\tif x > 0:\n\t\treturn x * 2\n    else:\n        return -x  # negate\n"),
        ("whitespace", "a  b   c\n\n  \t d \n\n\n   \t\t\n end   "),
        ("leading_trailing_spaces", "   leading and trailing   "),
        ("newlines_only", "\n\n\n"),
        ("single_space", " "),
        ("numbers", "Pi is 3.14159265358979, the year 2024, 1,000,000 and 12345678901234567890; a  1 b\t22 x 7"),
        ("unicode_digits", "٣ and ² and ½ and Ⅻ, ①②"),
        ("contractions", "It's what they're doing, isn't it? I'VE SEEN IT'S and we'll, I'd, you've, she'S 'tis"),
        ("punctuation", "!!!??? ... --- *** (a) [b] {c} <d> \"quoted\" 'single'"),
        ("odd_whitespace", "a\u00a0b\u3000c\u2028d\u000be\u0085f\u200bg\ufeffh\u1680i"),
        ("control_chars", "tab\there\rcr\x00nul\x1funit\x7fdel"),
        # SmolLM2's vocabulary has no token for the bytes 0x04, 0x06 and 0xF1
        # (among others): transformers drops them (its BPE has no unk token).
        ("bytes_without_tokens", "a\x04b\x06c \U00040000 d"),
        ("scripts", "Привет мир! Γειά σου κόσμε! مرحبا بالعالم שלום עולם नमस्ते"),
        ("long_word", "Pneumonoultramicroscopicsilicovolcanoconiosis"),
        ("specials", "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"),
        ("specials_adjacent", "<|endoftext|><|endoftext|>text<|im_end|> <|im_end <im_end|> <|IM_END|>"),
        ("empty", ""),
        ("book_paragraph", book_paragraph("frankenstein", 5000, 3000)),
    ]


RANDOM_PIECES = ["a", "Ab", " ", "  ", "\n", "\t", "\r\n", "7", "42", "'s", "'T", "é", "日", "🎉",
                 "👨\u200d👩", "!?", "\u00a0", "ǅ", "\u2581", "<s>", "<|user|>", "<|im_end|>", "<|im_start|>"]


def random_cases(count, seed, reject=lambda text: False):
    """Short random texts over RANDOM_PIECES (seeded, reproducible)."""
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        text = "".join(rng.choice(RANDOM_PIECES) for _ in range(rng.randint(1, 10)))
        if not reject(text):
            cases.append((f"random_{len(cases)}", text))
    return cases


def write_json(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=True, indent=1)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


# --- SmolLM2 byte-level BPE --------------------------------------------------

def make_smollm2_golden(cases):
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE)
    backend = tok.backend_tokenizer
    plain_gguf = lambda text: backend.encode(text, add_special_tokens=False).ids
    gguf_ids = {name: plain_gguf(text) for name, text in cases + random_cases(150, seed=1)}

    # The model's real pre-tokenizer (see the NOTE at the top).
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    out = []
    for name, text in cases + random_cases(150, seed=1):
        backend.encode_special_tokens = False
        ids = backend.encode(text, add_special_tokens=False).ids
        backend.encode_special_tokens = True
        ids_no_special = backend.encode(text, add_special_tokens=False).ids
        case = {"name": name, "text": text, "ids": ids,
                "decoded": tok.decode(ids, skip_special_tokens=False)}
        if ids_no_special != ids:
            case["ids_no_special"] = ids_no_special
        if gguf_ids[name] != ids:
            case["ids_transformers_gguf"] = gguf_ids[name]
        out.append(case)
    backend.encode_special_tokens = False
    assert tok("Hello")["input_ids"] == backend.encode("Hello", add_special_tokens=False).ids, \
        "transformers adds no BOS for this GGUF (add_bos_token = false)"
    write_json("smollm2_bpe.json", {
        "model": MODEL_FILE,
        "bos": tok.bos_token_id, "eos": tok.eos_token_id,
        "add_bos_token": bool(getattr(tok, "add_bos_token", False)),
        "cases": out,
    })
    return tok


# --- Pre-tokenizer regexes ---------------------------------------------------

def split_sequence(text, patterns):
    """HF/llama.cpp semantics: each regex splits every piece into matches and
    the gaps between them (both kept), in order."""
    pieces = [text] if text else []
    for pattern in patterns:
        compiled = regex.compile(pattern)
        next_pieces = []
        for piece in pieces:
            pos = 0
            for m in compiled.finditer(piece):
                if m.start() > pos:
                    next_pieces.append(piece[pos:m.start()])
                if m.end() > m.start():
                    next_pieces.append(m.group())
                pos = m.end()
            if pos < len(piece):
                next_pieces.append(piece[pos:])
        pieces = next_pieces
    assert "".join(pieces) == text
    return pieces


def make_pretokenizer_golden(cases):
    schemes = {"gpt2": [GPT2_RE], "llama3": [LLAMA3_RE], "qwen2": [QWEN2_RE],
               "smollm": [DIGIT_RE, GPT2_RE]}
    out = {"regexes": schemes, "cases": []}
    for name, text in cases:
        if name == "book_paragraph":
            text = text[:600]
        # findall alone must already cover the text for single-regex schemes.
        for scheme in ("gpt2", "llama3", "qwen2"):
            assert "".join(regex.findall(schemes[scheme][0], text)) == text
        out["cases"].append({"name": name, "text": text,
                             "splits": {s: split_sequence(text, p) for s, p in schemes.items()}})
    write_json("pretokenizer_splits.json", out)


# --- SentencePiece BPE fixture -----------------------------------------------

def make_spm_fixture(cases):
    work = tempfile.mkdtemp(prefix="spm_tiny_")
    lines = []
    for book in ("alice_in_wonderland", "christmas_carol"):
        lines += [l.strip() for l in book_body(book).splitlines() if l.strip()]
    train_path = os.path.join(work, "train.txt")
    with open(train_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    # Llama-2-like settings: identity normalization, dummy prefix, no
    # whitespace collapsing, digits split, byte fallback.
    spm.SentencePieceTrainer.train(
        input=train_path, model_prefix=os.path.join(work, "spm"), model_type="bpe",
        vocab_size=1200, byte_fallback=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, split_digits=True,
        user_defined_symbols=["<|user|>"], control_symbols=["<|end|>"],
        character_coverage=0.9995, num_threads=1, minloglevel=2)
    model_path = os.path.join(work, "spm.model")
    sp = spm.SentencePieceProcessor(model_file=model_path)
    proto = sentencepiece_model_pb2.ModelProto()
    with open(model_path, "rb") as f:
        proto.ParseFromString(f.read())

    gguf_path = os.path.join(OUT, "spm_tiny.gguf")
    writer = gguf.GGUFWriter(gguf_path, "llama")
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([p.piece for p in proto.pieces])
    writer.add_token_scores([p.score for p in proto.pieces])
    writer.add_token_types([int(p.type) for p in proto.pieces])  # same numbering as GGUF
    writer.add_bos_token_id(sp.bos_id())
    writer.add_eos_token_id(sp.eos_id())
    writer.add_unk_token_id(sp.unk_id())
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(True)
    writer.add_chat_template("{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {gguf_path} ({os.path.getsize(gguf_path)} bytes)")

    spm_cases = [(n, t) for n, t in cases if n not in ("specials", "specials_adjacent", "book_paragraph")]
    spm_cases += [
        ("leading_space", " Hello"),
        ("double_space", "a  b"),
        ("user_defined_symbol", "x <|user|> y<|user|>"),
        ("book_paragraph", book_paragraph("carmilla", 8000, 1500)),
    ]
    # Texts starting with a user-defined symbol are left out: sentencepiece
    # puts the dummy prefix before it, transformers and this engine do not.
    spm_cases += random_cases(150, seed=2, reject=lambda text: text.startswith("<|user|>"))
    out_cases = []
    for name, text in spm_cases:
        ids = sp.encode(text)
        out_cases.append({"name": name, "text": text, "ids": ids, "decoded": sp.decode(ids)})

    # Decoding of hand-picked sequences. Left out: control tokens (sentencepiece
    # hides them, this engine prints their text) and truncated multi-byte
    # sequences (sentencepiece writes one U+FFFD per byte, this engine one per
    # maximal ill-formed subpart like Python and transformers; see
    # utf8_replace.json).
    piece = sp.piece_to_id
    decode_ids = [
        [piece("▁"), piece("▁")],
        [piece("<0x20>"), piece("▁y")],
        [piece("<|user|>"), piece("▁y")],
        [piece("<0xE6>"), piece("<0x97>"), piece("<0xA5>"), piece("▁y")],
        [piece("<0xE6>"), piece("▁y")],
        [piece("▁y"), piece("<0x97>"), piece("<0x41>")],
    ]
    decodes = [{"ids": ids, "text": sp.decode(ids)} for ids in decode_ids]

    # Special tokens in text: sentencepiece never parses control tokens, so
    # transformers' tokenizer built from the GGUF is the reference. It prepends
    # U+2581 only at the start of the text (Metaspace prepend_scheme "first"),
    # as this engine does; it differs from sentencepiece for text that already
    # starts with a space, so those cases are avoided here.
    tok = AutoTokenizer.from_pretrained(OUT, gguf_file="spm_tiny.gguf")
    special_cases = []
    for text in ["x <|user|> y <|end|>z", "<s>Hi", "<s> Hi there</s>", "<|end|> y", "a</s>\n<s>b",
                 "Hello world", "<unk>"]:
        ids = tok.backend_tokenizer.encode(text, add_special_tokens=False).ids
        special_cases.append({"text": text, "ids": ids})
    write_json("spm_tiny.json", {"bos": sp.bos_id(), "eos": sp.eos_id(), "unk": sp.unk_id(),
                                 "cases": out_cases, "decodes": decodes,
                                 "special_cases": special_cases})


# --- Chat templates ----------------------------------------------------------

LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

# Mistral-7B-Instruct (v0.1/v0.2 template with an optional system message).
MISTRAL_TEMPLATE = """{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
"""

# Gemma 3 (string contents; a system message is prefixed to the first turn).
GEMMA_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == "assistant") -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {{- message['content'] | trim -}}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def make_chat_golden(smol_tok):
    conversations = [
        ("one_user", [{"role": "user", "content": "Hello!"}]),
        ("system_multi_turn", [
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Arr, ahoy!"},
            {"role": "user", "content": "Where is the treasure?"}]),
        ("user_assistant", [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"}]),
        ("padded_content", [
            {"role": "user", "content": "  padded question \n\n"},
            {"role": "assistant", "content": "\tanswer with tab\u3000"},
            {"role": "user", "content": "\n"}]),
        ("unicode", [{"role": "user", "content": "Grüße 日本 🎉\nline two"}]),
    ]
    env = jinja2.Environment()
    env.globals["raise_exception"] = raise_exception
    templates = {"llama3": LLAMA3_TEMPLATE, "mistral": MISTRAL_TEMPLATE, "gemma": GEMMA_TEMPLATE}
    out = {"chatml_template": smol_tok.chat_template, "templates": templates, "cases": []}
    for name, messages in conversations:
        for gen in (False, True):
            case = {"name": name, "messages": messages, "add_generation_prompt": gen, "rendered": {}}
            case["rendered"]["chatml_smollm2"] = smol_tok.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=gen)
            for family, source in templates.items():
                # BOS is left to the tokenizer (add_bos); EOS text stays.
                case["rendered"][family] = env.from_string(source).render(
                    messages=messages, add_generation_prompt=gen, bos_token="", eos_token="</s>")
            out["cases"].append(case)
    write_json("chat_templates.json", out)


# --- UTF-8 replacement -------------------------------------------------------

def make_utf8_golden():
    rng = random.Random(1234)
    alphabet = [0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF,
                0xF0, 0xF1, 0xF4, 0xF5, 0xFF, 0x9F, 0xA0, 0x8F, 0x90]
    cases = []
    for _ in range(300):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        cases.append({"hex": data.hex(), "text": data.decode("utf-8", "replace")})
    for s in ["é", "日本", "🎉", "👨‍👩‍👧"]:
        data = s.encode()
        cases.append({"hex": data.hex(), "text": s})
        cases.append({"hex": data[:-1].hex(), "text": data[:-1].decode("utf-8", "replace")})
    write_json("utf8_replace.json", {"cases": cases})


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = text_cases()
    smol_tok = make_smollm2_golden(cases)
    make_pretokenizer_golden(cases)
    make_spm_fixture(cases)
    make_chat_golden(smol_tok)
    make_utf8_golden()
    return 0


if __name__ == "__main__":
    sys.exit(main())
