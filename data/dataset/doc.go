// Package dataset stores teacher signals for distillation as Parquet: schema
// v1, a streaming shard writer, a reader, and a validator.
//
// A dataset is a directory holding Parquet shards (part-NNNNN.parquet) and a
// manifest.json that lists every shard with its sha256, byte size, rows and
// tokens, plus the dataset metadata (Meta). Each shard also carries the
// metadata as Parquet key-value metadata, so a lone shard is self-describing.
//
// # Schema v1 (one row per sequence)
//
//	id          BYTE_ARRAY (STRING)   32 hex chars: sha256(source 0x00 prompt)[:16]
//	split       BYTE_ARRAY (STRING)   "train", "validation", ... (dictionary)
//	source      BYTE_ARRAY (STRING)   where the prompt came from (dictionary)
//	teacher     BYTE_ARRAY (STRING)   teacher model id, "" for text-only rows (dictionary)
//	prompt      BYTE_ARRAY (STRING)   prompt text as given to the teacher
//	completion  BYTE_ARRAY (STRING)   completion text
//	tokens      LIST<INT32>           prompt tokens followed by completion tokens
//	prompt_len  INT32                 number of leading prompt tokens (loss mask: tokens[j] counts iff j >= prompt_len)
//	topk_tail      BYTE_ARRAY         packed teacher top-k (see below), all four
//	topk_ids_lo    BYTE_ARRAY         empty for text-only rows
//	topk_ids_hi    BYTE_ARRAY
//	topk_logprobs  BYTE_ARRAY
//	topk_tail_tempered BYTE_ARRAY     n × float16 tempered tail masses (see below); empty
//	                                  unless the dataset has a tail_temperature. Optional:
//	                                  shards written before it lack the column (read as empty)
//	hidden      BYTE_ARRAY            packed float16 hidden states (see below), empty if none
//	provenance  BYTE_ARRAY (STRING)   free-form JSON: request id, time, seed, ...
//
// All columns are required (not nullable) and zstd-compressed; only
// topk_tail_tempered may be absent from a shard.
//
// # Teacher signal alignment
//
// Teacher signals are indexed by target token: signal i (0 <= i < n, n =
// len(tokens) - prompt_len) belongs to target token j = prompt_len + i and
// describes the teacher after reading tokens[0..j-1]: its distribution for
// token j and its hidden states at position j-1. A row with teacher signals
// therefore needs prompt_len >= 1. In a training batch (package batch) the
// input position holding tokens[j-1] gets Targets = tokens[j] and this signal.
//
// # Packed top-k, little-endian, for K = Meta.TopK
//
//	topk_tail      n × float16   teacher probability outside the top-K, in [0, 1]
//	topk_ids_lo    n·K bytes     id & 0xFF
//	topk_ids_hi    n·K × uvarint id >> 8 (LEB128)
//	topk_logprobs  n·K × uvarint codes. With c(lp) = round(-lp · 64) (clamped to
//	               2^20), code[0] = c(lp_0) and code[r] = c(lp_r) - c(lp_{r-1}) >= 0,
//	               restarting at every position; decode lp_r = -(code[0]+…+code[r]) / 64.
//
// Entries are position-major; within a position, in descending-logprob order,
// so id r of position p is low[p·K+r] | high[p·K+r] << 8.
//
//	topk_tail_tempered  n × float16  when Meta.TailTemperature = T > 0: the tail
//	               mass of the stored distribution p tempered at T,
//	               q_T = Σ_{j∉top-K} p_j^{1/T} / Σ_j p_j^{1/T}, in [0, 1]
//	               (q_T >= tail for T > 1). Present on every teacher row then,
//	               on none otherwise.
//
// Why the tempered tail: distillation at temperature T compares softmax(log p / T)
// on the top-K plus one lumped tail bucket, and the top-K and tail mass do not
// determine the tempered tail (it depends on how the tail mass is spread over
// the tail tokens). Only a teacher with its full distribution (the local one)
// can compute it; see package loss.
//
// Why: a fixed-point step of 1/64 nat bounds the logprob error by 1/128 nat and
// costs ~7e-6 nats of KL(exact || stored) on the synthetic teacher (measured
// in TestStorageReport, see docs/BENCHMARKS.md), while gap codes are mostly
// single small bytes that zstd entropy-codes to ~5 bits. Splitting ids into a
// near-uniform low byte and a skewed high part (BPE puts frequent tokens at low
// ids), each in its own column chunk, lets zstd code each plane on its own statistics. Gap
// coding makes stored logprobs sorted, finite and <= 0 by construction.
//
// # Packed hidden states (column hidden)
//
//	L × n × D float16 little-endian, layer-major, for L = len(Meta.HiddenLayers)
//	and D = Meta.HiddenDim; state [l][i] is the teacher's layer Meta.HiddenLayers[l]
//	output at input position prompt_len + i - 1.
//
// # File key-value metadata
//
// distill.schema_version ("1"), distill.tokenizer_hash, distill.vocab_size,
// distill.teacher, distill.teacher_settings (JSON: temperature and params),
// distill.policy_hash, distill.writer_version, distill.topk,
// distill.hidden_layers (JSON array), distill.hidden_dim, distill.logprob_scale ("64"),
// and distill.tail_temperature (only when the dataset stores a tempered tail).
package dataset
