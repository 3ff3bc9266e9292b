#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "tokenizer/golden_test_util.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace ri {
namespace {

using ri::testing::LoadedTokenizer;
using ri::testing::ReadTokenizerGolden;
using ri::testing::SmolLm2Path;
using ri::testing::TokenizerGoldenPath;

std::vector<TokenId> Ids(const nlohmann::json& array) { return array.get<std::vector<TokenId>>(); }

std::string ConcatTokenBytes(const Tokenizer& tokenizer, const std::vector<TokenId>& ids) {
  std::string bytes;
  for (TokenId id : ids) bytes += tokenizer.TokenBytes(id);
  return bytes;
}

bool IsValidUtf8(std::string_view text) {
  std::string copy;
  return AppendValidUtf8(text, /*at_end=*/true, copy) == text.size() && copy == text;
}

// Pushes ids one at a time; checks every piece is valid UTF-8.
std::string StreamDecode(const Tokenizer& tokenizer, const std::vector<TokenId>& ids, int* held_back = nullptr) {
  StreamingDecoder decoder(tokenizer);
  std::string text;
  for (TokenId id : ids) {
    const std::string piece = decoder.Push(id);
    EXPECT_TRUE(IsValidUtf8(piece)) << "token " << id;
    if (held_back != nullptr && piece.empty() && !tokenizer.TokenBytes(id).empty()) ++*held_back;
    text += piece;
  }
  const std::string rest = decoder.Flush();
  EXPECT_TRUE(IsValidUtf8(rest));
  return text + rest;
}

class SmolLm2Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::filesystem::exists(SmolLm2Path())) loaded_ = new LoadedTokenizer(SmolLm2Path());
  }
  static void TearDownTestSuite() {
    delete loaded_;
    loaded_ = nullptr;
  }
  void SetUp() override {
    if (loaded_ == nullptr) GTEST_SKIP() << "model file not found: " << SmolLm2Path();
  }
  const Tokenizer& tok() const { return *loaded_->tokenizer; }

  static LoadedTokenizer* loaded_;
};
LoadedTokenizer* SmolLm2Test::loaded_ = nullptr;

TEST_F(SmolLm2Test, MatchesTransformersIds) {
  const nlohmann::json golden = ReadTokenizerGolden("smollm2_bpe.json");
  ASSERT_GE(golden["cases"].size(), 20u);
  for (const auto& c : golden["cases"]) {
    const std::string text = c["text"];
    const std::vector<TokenId> ids = Ids(c["ids"]);
    SCOPED_TRACE(c["name"].get<std::string>());
    EXPECT_EQ(tok().Encode(text, /*add_bos=*/false, /*parse_special=*/true), ids);
    const std::vector<TokenId> no_special = c.contains("ids_no_special") ? Ids(c["ids_no_special"]) : ids;
    EXPECT_EQ(tok().Encode(text, false, /*parse_special=*/false), no_special);
    EXPECT_EQ(tok().Decode(ids), c["decoded"].get<std::string>());
    EXPECT_EQ(tok().Decode(no_special), c["decoded"].get<std::string>());
    EXPECT_EQ(StreamDecode(tok(), ids), c["decoded"].get<std::string>());
    // Decoding gives the text back, except where bytes without a token were
    // dropped.
    if (c["name"] != "bytes_without_tokens") {
      EXPECT_EQ(c["decoded"], c["text"]);
    }
  }
}

TEST_F(SmolLm2Test, SpecialTokensAndMetadata) {
  const nlohmann::json golden = ReadTokenizerGolden("smollm2_bpe.json");
  EXPECT_EQ(tok().vocab_size(), 49152);
  EXPECT_EQ(tok().bos(), golden["bos"].get<TokenId>());
  EXPECT_EQ(tok().eos(), golden["eos"].get<TokenId>());
  EXPECT_EQ(tok().TokenText(tok().eos()), "<|im_end|>");
  // tokenizer.ggml.add_bos_token = false, and transformers adds none either.
  EXPECT_FALSE(golden["add_bos_token"].get<bool>());
  EXPECT_FALSE(tok().adds_bos());
  EXPECT_EQ(tok().Encode("Hi", /*add_bos=*/true, true), tok().Encode("Hi", false, true));

  EXPECT_EQ(tok().Find("<|im_start|>"), 1);
  EXPECT_EQ(tok().Find("<|im_end|>"), 2);
  EXPECT_EQ(tok().Find("no such token"), -1);
  EXPECT_EQ(tok().end_of_generation(), (std::vector<TokenId>{0, 2}));  // <|endoftext|>, <|im_end|>
  EXPECT_TRUE(tok().IsEndOfGeneration(2));
  EXPECT_TRUE(tok().IsEndOfGeneration(0));
  EXPECT_FALSE(tok().IsEndOfGeneration(1));

  EXPECT_EQ(tok().Encode("<|im_start|>", false, true), (std::vector<TokenId>{1}));
  EXPECT_EQ(tok().TokenBytes(1), "<|im_start|>");
  EXPECT_EQ(tok().TokenBytes(tok().Find("\xC4\xA0")), " ");  // 'Ġ' is the space byte
  EXPECT_THROW(tok().TokenBytes(-1), Error);
  EXPECT_THROW(tok().TokenBytes(49152), Error);
}

TEST_F(SmolLm2Test, ArbitraryBytesRoundTrip) {
  // Ill-formed UTF-8 is encoded byte by byte, so the token bytes give the
  // input back exactly; Decode replaces what is ill-formed.
  const std::string input = "ok \x80\xBF then \xE6\x97 cut \xF0\x9F\x98 and \xC3\xA9 end\xE2";
  const std::vector<TokenId> ids = tok().Encode(input, false, true);
  EXPECT_EQ(ConcatTokenBytes(tok(), ids), input);
  EXPECT_EQ(tok().Decode(ids), "ok \xEF\xBF\xBD\xEF\xBF\xBD then \xEF\xBF\xBD cut \xEF\xBF\xBD and \xC3\xA9 end\xEF\xBF\xBD");
  // 0xFF has no token in this vocabulary: dropped.
  EXPECT_EQ(ConcatTokenBytes(tok(), tok().Encode("a\xFF\xFF", false, true)), "a");
  EXPECT_EQ(StreamDecode(tok(), ids), tok().Decode(ids));
}

TEST_F(SmolLm2Test, StreamingHoldsBackSplitCharacters) {
  // Characters outside the vocabulary's merges are split into byte tokens.
  const std::string text = "Emoji 🧑‍🔬🦜 and rare CJK 龘𠀋 and ⛵";
  const std::vector<TokenId> ids = tok().Encode(text, false, true);
  int held_back = 0;
  EXPECT_EQ(StreamDecode(tok(), ids, &held_back), text);
  EXPECT_GT(held_back, 0) << "the test text should split some characters across tokens";
}

// Random strings made of pieces that stress the splitting rules.
std::vector<std::string> RandomTexts(int count) {
  const std::vector<std::string> pieces = {"a", "Ab", " ", "  ", "\n", "\t", "\r\n", "7", "42", "'s", "'T",
                                           "é", "日", "🎉", "👨\u200d👩", "\x80", "\xE6\x97", "!?", "<|im_end|>",
                                           "<s>", "<|user|>", "\xE2\x96\x81"};
  std::mt19937 rng(7);
  std::vector<std::string> texts;
  for (int i = 0; i < count; ++i) {
    std::string text;
    const int length = static_cast<int>(rng() % 12);
    for (int j = 0; j < length; ++j) text += pieces[rng() % pieces.size()];
    texts.push_back(text);
  }
  return texts;
}

TEST_F(SmolLm2Test, TokenBytesRebuildRandomTexts) {
  for (const std::string& text : RandomTexts(2000)) {
    for (bool parse_special : {false, true}) {
      EXPECT_EQ(ConcatTokenBytes(tok(), tok().Encode(text, false, parse_special)), text);
    }
  }
}

std::string LargeText() {
  const nlohmann::json golden = ReadTokenizerGolden("smollm2_bpe.json");
  std::string text;
  while (text.size() < 100 * 1024) {
    for (const auto& c : golden["cases"]) {
      if (c["name"] != "bytes_without_tokens") text += c["text"].get<std::string>();
    }
  }
  return text;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST_F(SmolLm2Test, EncodesLargeTextsFast) {
  const std::string mixed = LargeText();
  const std::string spaces(100 * 1024, ' ');
  const std::string one_word(100 * 1024, 'a');
  const std::string digits(100 * 1024, '7');
  for (const std::string* text : {&mixed, &spaces, &one_word, &digits}) {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<TokenId> ids = tok().Encode(*text, false, true);
    const double seconds = SecondsSince(start);
    EXPECT_LT(seconds, 1.0) << text->substr(0, 20);
    EXPECT_TRUE(tok().Decode(ids) == *text) << text->substr(0, 20);  // (no 100 KB diff on failure)
  }
}

class SpmTest : public ::testing::Test {
 protected:
  SpmTest() : loaded_(TokenizerGoldenPath("spm_tiny.gguf")), golden_(ReadTokenizerGolden("spm_tiny.json")) {}
  const Tokenizer& tok() const { return *loaded_.tokenizer; }
  LoadedTokenizer loaded_;
  nlohmann::json golden_;
};

TEST_F(SpmTest, MatchesSentencePieceIds) {
  ASSERT_GE(golden_["cases"].size(), 20u);
  for (const auto& c : golden_["cases"]) {
    const std::string text = c["text"];
    const std::vector<TokenId> ids = Ids(c["ids"]);
    SCOPED_TRACE(c["name"].get<std::string>());
    // sentencepiece never parses control tokens in text.
    EXPECT_EQ(tok().Encode(text, /*add_bos=*/false, /*parse_special=*/false), ids);
    EXPECT_EQ(tok().Decode(ids), c["decoded"].get<std::string>());
    // A "▁" in the text decodes as a space, as with sentencepiece.
    if (text.find("\xE2\x96\x81") == std::string::npos) {
      EXPECT_EQ(tok().Decode(ids), text);
    }
  }
}

TEST_F(SpmTest, EncodesLargeTextsFast) {
  // SentencePiece has no pre-tokenizer: the whole text is one run to merge.
  std::string text;
  while (text.size() < 100 * 1024) {
    for (const auto& c : golden_["cases"]) {
      if (!c["name"].get<std::string>().starts_with("random_")) text += c["text"].get<std::string>();
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<TokenId> ids = tok().Encode(text, false, false);
  EXPECT_LT(SecondsSince(start), 1.0);
  EXPECT_TRUE(tok().Decode(ids) == text);
}

TEST_F(SpmTest, TokenBytesRebuildRandomTexts) {
  // Every byte has a token; the text gets the space prefix unless it starts
  // with a (user-defined) special token, and a "▁" in the text comes back as
  // a space (as with sentencepiece).
  for (const std::string& text : RandomTexts(2000)) {
    std::string expected = text.empty() || text.starts_with("<|user|>") ? "" : " ";
    for (size_t pos = 0; pos < text.size();) {
      const bool mark = text.compare(pos, 3, "\xE2\x96\x81") == 0;
      expected += mark ? std::string(" ") : text.substr(pos, 1);
      pos += mark ? 3 : 1;
    }
    EXPECT_EQ(ConcatTokenBytes(tok(), tok().Encode(text, false, false)), expected);
  }
}

TEST_F(SpmTest, DecodeMatchesSentencePiece) {
  for (const auto& c : golden_["decodes"]) {
    EXPECT_EQ(tok().Decode(Ids(c["ids"])), c["text"].get<std::string>()) << c["ids"].dump();
  }
}

TEST_F(SpmTest, SpecialTokensMatchTransformers) {
  for (const auto& c : golden_["special_cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(tok().Encode(text, false, /*parse_special=*/true), Ids(c["ids"])) << text;
  }
}

TEST_F(SpmTest, BosEosAndControlTokens) {
  const TokenId bos = golden_["bos"];
  EXPECT_EQ(tok().bos(), bos);
  EXPECT_EQ(tok().eos(), golden_["eos"].get<TokenId>());
  EXPECT_TRUE(tok().adds_bos());
  const std::vector<TokenId> plain = tok().Encode("Hello world", false, false);
  std::vector<TokenId> with_bos = {bos};
  with_bos.insert(with_bos.end(), plain.begin(), plain.end());
  EXPECT_EQ(tok().Encode("Hello world", /*add_bos=*/true, false), with_bos);
  // The leading space is dropped from the first token after control tokens.
  EXPECT_EQ(tok().Decode(with_bos), "<s>Hello world");
  // </s> and <|end|> end generation; <s> does not.
  EXPECT_TRUE(tok().IsEndOfGeneration(tok().eos()));
  EXPECT_TRUE(tok().IsEndOfGeneration(tok().Find("<|end|>")));
  EXPECT_FALSE(tok().IsEndOfGeneration(bos));
  EXPECT_EQ(tok().TokenBytes(tok().Find("<0x41>")), "A");
  EXPECT_EQ(tok().TokenBytes(tok().Find("\xE2\x96\x81the")), " the");
}

TEST_F(SpmTest, StreamingByteFallback) {
  // CJK and emoji are not in this vocabulary: they become <0xNN> tokens.
  const std::string text = "Tea 日本 🍵 ok";
  const std::vector<TokenId> ids = tok().Encode(text, false, false);
  int held_back = 0;
  // Streaming continues a text: the first token keeps its space.
  EXPECT_EQ(StreamDecode(tok(), ids, &held_back), " " + text);
  EXPECT_GE(held_back, 2 + 2 + 3);  // all bytes but the last of each character
  EXPECT_EQ(tok().Decode(ids), text);
}

TEST_F(SpmTest, StreamingReplacesIllFormedBytesLikePython) {
  // Byte tokens fed one by one must give what Python's
  // bytes.decode("utf-8", "replace") gives for the whole string.
  const nlohmann::json golden = ReadTokenizerGolden("utf8_replace.json");
  ASSERT_GE(golden["cases"].size(), 300u);
  for (const auto& c : golden["cases"]) {
    const std::string hex = c["hex"];
    std::vector<TokenId> ids;
    for (size_t i = 0; i < hex.size(); i += 2) {
      ids.push_back(tok().Find("<0x" + fmt::format("{:02X}", std::stoi(hex.substr(i, 2), nullptr, 16)) + ">"));
      ASSERT_GE(ids.back(), 0);
    }
    EXPECT_EQ(StreamDecode(tok(), ids), c["text"].get<std::string>()) << hex;
    EXPECT_EQ(tok().Decode(ids), c["text"].get<std::string>()) << hex;
  }
}

// A tokenizer-only GGUF with the given metadata, as bytes (GGUF v3).
class GgufBuilder {
 public:
  GgufBuilder& String(const std::string& key, const std::string& value) {
    Key(key, 8);
    Str(value);
    ++count_;
    return *this;
  }
  GgufBuilder& Strings(const std::string& key, const std::vector<std::string>& values) {
    Key(key, 9);
    Put<uint32_t>(8);
    Put<uint64_t>(values.size());
    for (const auto& v : values) Str(v);
    ++count_;
    return *this;
  }
  GgufBuilder& Ints(const std::string& key, const std::vector<int32_t>& values) {
    Key(key, 9);
    Put<uint32_t>(5);
    Put<uint64_t>(values.size());
    for (int32_t v : values) Put(v);
    ++count_;
    return *this;
  }
  std::vector<uint8_t> Bytes() const {
    std::vector<uint8_t> out;
    const auto append = [&](const void* p, size_t n) {
      out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    };
    const uint32_t magic = 0x46554747, version = 3;
    const uint64_t tensors = 0;
    append(&magic, 4);
    append(&version, 4);
    append(&tensors, 8);
    append(&count_, 8);
    out.insert(out.end(), body_.begin(), body_.end());
    return out;
  }

 private:
  template <typename T>
  void Put(T value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    body_.insert(body_.end(), p, p + sizeof(T));
  }
  void Str(const std::string& s) {
    Put<uint64_t>(s.size());
    body_.insert(body_.end(), s.begin(), s.end());
  }
  void Key(const std::string& key, uint32_t type) {
    Str(key);
    Put(type);
  }
  std::vector<uint8_t> body_;
  uint64_t count_ = 0;
};

std::string LoadError(const std::vector<uint8_t>& bytes) {
  try {
    const gguf::File file = gguf::File::Parse(bytes.data(), bytes.size());
    Tokenizer::FromGguf(file);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> ByteAlphabet() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) {
    std::string text;
    AppendUtf8(text, ByteToCodePoint(static_cast<uint8_t>(b)));
    tokens.push_back(text);
  }
  return tokens;
}

TEST(TokenizerErrors, ReportWhatIsWrong) {
  EXPECT_NE(LoadError(GgufBuilder().String("general.architecture", "llama").Bytes()).find("no tokenizer"),
            std::string::npos);
  EXPECT_NE(LoadError(GgufBuilder().String("tokenizer.ggml.model", "bert").Bytes()).find("supported: gpt2"),
            std::string::npos);

  std::vector<std::string> tokens = ByteAlphabet();
  tokens.push_back("ab");
  const std::string pre_error = LoadError(GgufBuilder()
                                              .String("tokenizer.ggml.model", "gpt2")
                                              .String("tokenizer.ggml.pre", "tekken")
                                              .Strings("tokenizer.ggml.tokens", tokens)
                                              .Strings("tokenizer.ggml.merges", {"a b"})
                                              .Bytes());
  EXPECT_NE(pre_error.find("'tekken'"), std::string::npos) << pre_error;
  EXPECT_NE(pre_error.find("smollm"), std::string::npos) << pre_error;

  const std::string merge_error = LoadError(GgufBuilder()
                                                .String("tokenizer.ggml.model", "gpt2")
                                                .Strings("tokenizer.ggml.tokens", tokens)
                                                .Strings("tokenizer.ggml.merges", {"a b", "b c"})
                                                .Bytes());
  EXPECT_NE(merge_error.find("merges[1]"), std::string::npos) << merge_error;

  const std::string type_error = LoadError(GgufBuilder()
                                               .String("tokenizer.ggml.model", "gpt2")
                                               .Strings("tokenizer.ggml.tokens", tokens)
                                               .Ints("tokenizer.ggml.token_type", {1, 1})
                                               .Strings("tokenizer.ggml.merges", {"a b"})
                                               .Bytes());
  EXPECT_NE(type_error.find("token_type has 2 entries"), std::string::npos) << type_error;

  const std::string scores_error = LoadError(
      GgufBuilder().String("tokenizer.ggml.model", "llama").Strings("tokenizer.ggml.tokens", {"a"}).Bytes());
  EXPECT_NE(scores_error.find("scores"), std::string::npos) << scores_error;
}

// Llama 3 ("ignore_merges"): a word that is itself a token is taken whole,
// even when the merges cannot build it; other schemes follow the merges.
TEST(TokenizerBpe, Llama3TakesWholeWordsThatAreTokens) {
  std::vector<std::string> tokens = ByteAlphabet();
  for (const char* extra : {"bc", "abc"}) tokens.push_back(extra);
  const TokenId bc = 256, abc = 257;
  for (const char* pre : {"llama-bpe", "gpt2"}) {
    const std::vector<uint8_t> bytes = GgufBuilder()
                                           .String("tokenizer.ggml.model", "gpt2")
                                           .String("tokenizer.ggml.pre", pre)
                                           .Strings("tokenizer.ggml.tokens", tokens)
                                           .Strings("tokenizer.ggml.merges", {"b c"})
                                           .Bytes();
    const gguf::File file = gguf::File::Parse(bytes.data(), bytes.size());
    const auto tokenizer = Tokenizer::FromGguf(file);
    const std::vector<TokenId> expected =
        std::string(pre) == "gpt2" ? std::vector<TokenId>{'a', bc} : std::vector<TokenId>{abc};
    EXPECT_EQ(tokenizer->Encode("abc", false, false), expected) << pre;
  }
}

TEST(TokenizerBpe, TinyVocabularyMergesByRank) {
  // Merges "b c" (rank 0) beats "a b" (rank 1) in "abc"; equal ranks merge
  // leftmost first ("aaa" -> "aa" "a").
  std::vector<std::string> tokens = ByteAlphabet();
  for (const char* extra : {"ab", "bc", "aa", "abc"}) tokens.push_back(extra);
  const std::vector<uint8_t> bytes = GgufBuilder()
                                         .String("tokenizer.ggml.model", "gpt2")
                                         .String("tokenizer.ggml.pre", "gpt2")
                                         .Strings("tokenizer.ggml.tokens", tokens)
                                         .Strings("tokenizer.ggml.merges", {"b c", "a b", "a a", "a bc"})
                                         .Bytes();
  const gguf::File file = gguf::File::Parse(bytes.data(), bytes.size());
  const auto tok = Tokenizer::FromGguf(file);
  const TokenId ab = 256, bc = 257, aa = 258, abc = 259;
  EXPECT_EQ(tok->Encode("abc", false, true), (std::vector<TokenId>{abc}));
  EXPECT_EQ(tok->Encode("abab", false, true), (std::vector<TokenId>{ab, ab}));
  EXPECT_EQ(tok->Encode("aaa", false, true), (std::vector<TokenId>{aa, 'a'}));
  EXPECT_EQ(tok->Encode("xbc", false, true), (std::vector<TokenId>{'x', bc}));
  EXPECT_EQ(tok->bos(), -1);
  EXPECT_TRUE(tok->end_of_generation().empty());
}

}  // namespace
}  // namespace ri
