#include "model/model.h"

#include <cmath>

#include "gguf/gguf_file.h"
#include "kernels/dequantize.h"
#include "kernels/row_kernels.h"
#include "util/error.h"
#include "util/phase_profile.h"
#include "util/thread_pool.h"

namespace ri {

namespace {

// Gate values per SwiGLU work item (a decode row's 1536 go to both threads;
// with the vectorized exp that measured the same as one thread).
constexpr size_t kSwiGluGrain = 512;
// Rows per work item of the per-row steps (norms, RoPE, residual adds): a
// prompt's rows split across threads, a decode step's stay on one.
constexpr size_t kRowGrain = 16;

// Calls step(r) for every row r < num_rows, on the pool's threads.
template <class Step>
void ForEachRow(ThreadPool& pool, int num_rows, Step step) {
  pool.ParallelFor(
      num_rows,
      [&](size_t begin, size_t end) {
        for (size_t r = begin; r < end; ++r) step(static_cast<int>(r));
      },
      kRowGrain);
}

std::unique_ptr<gguf::File> OpenFile(const std::string& path) {
  return std::make_unique<gguf::File>(gguf::File::Open(path));
}

// to[r * width + i] += from[r * width + i] for num_rows rows.
void AddRows(ThreadPool& pool, int num_rows, int width, const float* from, float* to) {
  ForEachRow(pool, num_rows, [&](int r) {
    for (size_t i = static_cast<size_t>(r) * width; i < static_cast<size_t>(r + 1) * width; ++i) {
      to[i] += from[i];
    }
  });
}

void AddBias(float* rows, const std::vector<float>& bias, int num_rows) {
  if (bias.empty()) return;
  const size_t width = bias.size();
  for (int r = 0; r < num_rows; ++r) {
    for (size_t i = 0; i < width; ++i) rows[r * width + i] += bias[i];
  }
}

}  // namespace

// Row-major activation buffers of one Forward call (rows x width).
struct Model::Activations {
  std::vector<float> residual, normed, queries, keys, values, attention, gate, up;
  // Per row, its position's RoPE angles (Rope::Angles), for every layer.
  std::vector<float> rope_tables;
  // The rows running a layer, when not all do.
  std::vector<float> active_residual, active_rope_tables;
};

std::unique_ptr<Model> Model::Load(const std::string& path, ActivationPrecision activations) {
  return std::make_unique<Model>(OpenFile(path), activations);
}

Model::Model(std::unique_ptr<gguf::File> file, ActivationPrecision activations)
    : file_(std::move(file)),
      config_(ModelConfig::FromGguf(*file_)),
      weights_(ModelWeights::FromGguf(*file_, config_, activations)),
      rope_(config_, weights_.rope_factors) {}

Model::Model(ModelConfig config, ModelWeights weights, std::shared_ptr<const void> storage)
    : storage_(std::move(storage)),
      config_(std::move(config)),
      weights_(std::move(weights)),
      rope_(config_, weights_.rope_factors) {}

Model::~Model() = default;

size_t Model::WeightBytesPerPass() const {
  const auto bytes = [](const WeightMatrix& m) { return static_cast<size_t>(m.rows) * m.row_bytes; };
  size_t total = bytes(weights_.output);
  for (const LayerWeights& l : weights_.layers) {
    total += bytes(l.query) + bytes(l.key) + bytes(l.value) + bytes(l.attention_output) +
             bytes(l.ffn_gate) + bytes(l.ffn_up) + bytes(l.ffn_down);
  }
  return total;
}

void Model::Forward(std::span<const ForwardRow> rows, std::span<const SequenceContext> sequences,
                    ThreadPool& pool, std::vector<float>& logits) const {
  const ModelConfig& c = config_;
  const int n = static_cast<int>(rows.size());
  const size_t hidden = c.hidden_size;
  Activations a;
  a.residual.resize(n * hidden);
  a.normed.resize(n * hidden);
  a.queries.resize(n * static_cast<size_t>(c.num_heads) * c.head_dim);
  a.keys.resize(n * static_cast<size_t>(c.num_kv_heads) * c.head_dim);
  a.values.resize(a.keys.size());
  a.attention.resize(a.queries.size());
  a.gate.resize(n * static_cast<size_t>(c.ffn_size));
  a.up.resize(a.gate.size());

  const WeightMatrix& embedding = weights_.token_embedding;
  for (int r = 0; r < n; ++r) {
    const ForwardRow& row = rows[r];
    if (row.start_layer < 0 || row.start_layer >= c.num_layers ||
        (row.start_layer > 0 && row.start_residual == nullptr)) {
      Fail("row at position {} starts at layer {} without a residual", row.position,
           row.start_layer);
    }
    if (row.start_residual != nullptr) continue;
    if (row.token < 0 || row.token >= c.vocab_size) {
      Fail("token id {} is outside the vocabulary of {} tokens", row.token, c.vocab_size);
    }
    DequantizeRow(embedding.type, embedding.data + row.token * embedding.row_bytes,
                  a.residual.data() + r * hidden, static_cast<int64_t>(hidden));
  }
  const size_t table_size = rope_.table_size();
  a.rope_tables.resize(n * table_size);
  ForEachRow(pool, n,
             [&](int r) { rope_.Angles(rows[r].position, a.rope_tables.data() + r * table_size); });

  std::vector<ForwardRow> active_rows;
  std::vector<int> active_index;
  for (int layer = 0; layer < c.num_layers; ++layer) {
    active_rows.clear();
    active_index.clear();
    for (int r = 0; r < n; ++r) {
      const ForwardRow& row = rows[r];
      float* residual = a.residual.data() + r * hidden;
      if (row.start_layer == layer && row.start_residual != nullptr) {
        std::copy(row.start_residual, row.start_residual + hidden, residual);
      }
      if (row.capture_layer == layer) std::copy(residual, residual + hidden, row.captured_residual);
      if (row.start_layer <= layer) {
        active_rows.push_back(row);
        active_index.push_back(r);
      }
    }
    if (static_cast<int>(active_rows.size()) == n) {
      RunLayer(layer, rows, sequences, a.residual.data(), a.rope_tables.data(), a, pool);
      continue;
    }
    // Only some rows run this layer: gather their residuals and angles, run,
    // scatter the residuals back.
    a.active_residual.resize(active_rows.size() * hidden);
    a.active_rope_tables.resize(active_rows.size() * table_size);
    for (size_t i = 0; i < active_index.size(); ++i) {
      const float* from = a.residual.data() + active_index[i] * hidden;
      std::copy(from, from + hidden, a.active_residual.data() + i * hidden);
      const float* table = a.rope_tables.data() + active_index[i] * table_size;
      std::copy(table, table + table_size, a.active_rope_tables.data() + i * table_size);
    }
    RunLayer(layer, active_rows, sequences, a.active_residual.data(),
             a.active_rope_tables.data(), a, pool);
    for (size_t i = 0; i < active_index.size(); ++i) {
      const float* from = a.active_residual.data() + i * hidden;
      std::copy(from, from + hidden, a.residual.data() + active_index[i] * hidden);
    }
  }

  PhaseClock clock;
  clock.Start(Phase::kLogits);
  std::vector<float> final_rows;
  for (int r = 0; r < n; ++r) {
    if (!rows[r].wants_logits) continue;
    final_rows.resize(final_rows.size() + hidden);
    RmsNorm(a.residual.data() + r * hidden, weights_.output_norm.data(), c.hidden_size,
            c.rms_norm_eps, final_rows.data() + final_rows.size() - hidden);
  }
  const int logit_rows = static_cast<int>(final_rows.size() / hidden);
  logits.assign(static_cast<size_t>(logit_rows) * c.vocab_size, 0.0f);
  if (logit_rows > 0) MatMul(weights_.output, final_rows.data(), logit_rows, logits.data(), pool);
}

void Model::RunLayer(int layer, std::span<const ForwardRow> rows,
                     std::span<const SequenceContext> sequences, float* residual,
                     const float* rope_tables, Activations& a, ThreadPool& pool) const {
  Attention(layer, rows, sequences, residual, rope_tables, a, pool);
  FeedForward(layer, static_cast<int>(rows.size()), residual, a, pool);
}

void Model::Attention(int layer, std::span<const ForwardRow> rows,
                      std::span<const SequenceContext> sequences, float* residual,
                      const float* rope_tables, Activations& a, ThreadPool& pool) const {
  const ModelConfig& c = config_;
  const LayerWeights& w = weights_.layers[layer];
  const int n = static_cast<int>(rows.size());
  const int hidden = c.hidden_size;
  PhaseClock clock;
  clock.Start(Phase::kNorms);
  ForEachRow(pool, n, [&](int r) {
    RmsNorm(residual + r * hidden, w.attention_norm.data(), hidden, c.rms_norm_eps,
            a.normed.data() + r * hidden);
  });
  clock.Start(Phase::kQkvProjection);
  MatMulSameInput({&w.query, &w.key, &w.value}, a.normed.data(), n,
                  {a.queries.data(), a.keys.data(), a.values.data()}, pool);
  AddBias(a.queries.data(), w.query_bias, n);
  AddBias(a.keys.data(), w.key_bias, n);
  AddBias(a.values.data(), w.value_bias, n);

  clock.Start(Phase::kQkNormAndRope);
  const int head_dim = c.head_dim;
  ForEachRow(pool, n, [&](int r) {
    float* q = a.queries.data() + static_cast<size_t>(r) * c.num_heads * head_dim;
    float* k = a.keys.data() + static_cast<size_t>(r) * c.num_kv_heads * head_dim;
    if (c.qk_norm) {
      for (int h = 0; h < c.num_heads; ++h) {
        RmsNorm(q + h * head_dim, w.query_norm.data(), head_dim, c.rms_norm_eps, q + h * head_dim);
      }
      for (int h = 0; h < c.num_kv_heads; ++h) {
        RmsNorm(k + h * head_dim, w.key_norm.data(), head_dim, c.rms_norm_eps, k + h * head_dim);
      }
    }
    rope_.Apply(rope_tables + static_cast<size_t>(r) * rope_.table_size(), head_dim,
                {{q, c.num_heads}, {k, c.num_kv_heads}});
  });

  clock.Start(Phase::kAttention);
  // One policy call per sequence, over its contiguous rows.
  std::vector<int> positions;
  std::vector<RowRole> roles;
  const size_t q_width = static_cast<size_t>(c.num_heads) * head_dim;
  const size_t kv_width = static_cast<size_t>(c.num_kv_heads) * head_dim;
  for (int begin = 0; begin < n;) {
    int end = begin;
    positions.clear();
    roles.clear();
    while (end < n && rows[end].sequence == rows[begin].sequence) {
      positions.push_back(rows[end].position);
      roles.push_back(rows[end].role);
      ++end;
    }
    const SequenceContext& sequence = sequences[rows[begin].sequence];
    LayerAttention call{.layer = layer,
                        .num_heads = c.num_heads,
                        .num_kv_heads = c.num_kv_heads,
                        .head_dim = head_dim,
                        .scale = 1.0f / std::sqrt(static_cast<float>(head_dim)),
                        .positions = positions,
                        .roles = roles,
                        .queries = a.queries.data() + begin * q_width,
                        .keys = a.keys.data() + begin * kv_width,
                        .values = a.values.data() + begin * kv_width,
                        .outputs = a.attention.data() + begin * q_width,
                        .log_sum_exps = nullptr};
    sequence.policy->Attend(call, *sequence.cache, pool);
    begin = end;
  }

  // Output projection, added to the residual stream.
  clock.Start(Phase::kOutputProjection);
  MatMul(w.attention_output, a.attention.data(), n, a.normed.data(), pool);
  clock.Start(Phase::kResidualAdds);
  AddRows(pool, n, hidden, a.normed.data(), residual);
}

void Model::FeedForward(int layer, int num_rows, float* residual, Activations& a,
                        ThreadPool& pool) const {
  const ModelConfig& c = config_;
  const LayerWeights& w = weights_.layers[layer];
  const int hidden = c.hidden_size;
  PhaseClock clock;
  clock.Start(Phase::kNorms);
  ForEachRow(pool, num_rows, [&](int r) {
    RmsNorm(residual + r * hidden, w.ffn_norm.data(), hidden, c.rms_norm_eps,
            a.normed.data() + r * hidden);
  });
  clock.Start(Phase::kGateUpProjection);
  MatMulSameInput({&w.ffn_gate, &w.ffn_up}, a.normed.data(), num_rows,
                  {a.gate.data(), a.up.data()}, pool);
  clock.Start(Phase::kSwiGlu);
  pool.ParallelFor(
      static_cast<size_t>(num_rows) * c.ffn_size,
      [&](size_t begin, size_t end) {
        SwiGlu(a.gate.data() + begin, a.up.data() + begin, static_cast<int>(end - begin));
      },
      kSwiGluGrain);
  clock.Start(Phase::kDownProjection);
  MatMul(w.ffn_down, a.gate.data(), num_rows, a.normed.data(), pool);
  clock.Start(Phase::kResidualAdds);
  AddRows(pool, num_rows, hidden, a.normed.data(), residual);
}

}  // namespace ri
