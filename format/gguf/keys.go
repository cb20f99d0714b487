package gguf

// Metadata keys distill reads and writes, as llama.cpp names them
// (gguf-py/gguf/constants.py). Hyperparameter keys carry the architecture
// ("llama."); ArchKey builds them for any architecture from the Hyper*
// names.
const (
	KeyArchitecture        = "general.architecture"
	KeyName                = "general.name"
	KeyVersion             = "general.version"
	KeyDescription         = "general.description"
	KeyAuthor              = "general.author"
	KeyLicense             = "general.license"
	KeyFileType            = "general.file_type" // llama_ftype; see quant.FileType
	KeyQuantizationVersion = "general.quantization_version"

	// What llama-quantize --imatrix records about the importance matrix
	// (tools/quantize/quantize.cpp).
	KeyQuantizeImatrixFile         = "quantize.imatrix.file"
	KeyQuantizeImatrixDataset      = "quantize.imatrix.dataset"
	KeyQuantizeImatrixEntriesCount = "quantize.imatrix.entries_count"
	KeyQuantizeImatrixChunksCount  = "quantize.imatrix.chunks_count"

	KeyLlamaVocabSize          = "llama.vocab_size"
	KeyLlamaContextLength      = "llama.context_length"
	KeyLlamaEmbeddingLength    = "llama.embedding_length"
	KeyLlamaBlockCount         = "llama.block_count"
	KeyLlamaFeedForwardLength  = "llama.feed_forward_length"
	KeyLlamaHeadCount          = "llama.attention.head_count"
	KeyLlamaHeadCountKV        = "llama.attention.head_count_kv"
	KeyLlamaRMSEpsilon         = "llama.attention.layer_norm_rms_epsilon"
	KeyLlamaRopeDimensionCount = "llama.rope.dimension_count"
	KeyLlamaRopeFreqBase       = "llama.rope.freq_base"

	// Hyperparameter names under the architecture prefix (ArchKey).
	HyperVocabSize          = "vocab_size"
	HyperContextLength      = "context_length"
	HyperEmbeddingLength    = "embedding_length"
	HyperBlockCount         = "block_count"
	HyperFeedForwardLength  = "feed_forward_length"
	HyperHeadCount          = "attention.head_count"
	HyperHeadCountKV        = "attention.head_count_kv"
	HyperKeyLength          = "attention.key_length"   // per-head Q/K width when not embedding_length/head_count
	HyperValueLength        = "attention.value_length" // per-head V width
	HyperRMSEpsilon         = "attention.layer_norm_rms_epsilon"
	HyperRopeDimensionCount = "rope.dimension_count"
	HyperRopeFreqBase       = "rope.freq_base"

	KeyTokenizerModel      = "tokenizer.ggml.model"
	KeyTokenizerPre        = "tokenizer.ggml.pre"
	KeyTokenizerTokens     = "tokenizer.ggml.tokens"
	KeyTokenizerTokenTypes = "tokenizer.ggml.token_type"
	KeyTokenizerMerges     = "tokenizer.ggml.merges"
	// SentencePiece ("llama") vocabularies: a score per token (merge
	// priority, higher first), the unknown token, and whether text gets a
	// leading space (▁).
	KeyTokenizerScores         = "tokenizer.ggml.scores"
	KeyTokenizerUNK            = "tokenizer.ggml.unknown_token_id"
	KeyTokenizerAddSpacePrefix = "tokenizer.ggml.add_space_prefix"
	KeyTokenizerBOS            = "tokenizer.ggml.bos_token_id"
	KeyTokenizerEOS            = "tokenizer.ggml.eos_token_id"
	KeyTokenizerEOT            = "tokenizer.ggml.eot_token_id"
	KeyTokenizerPAD            = "tokenizer.ggml.padding_token_id"
	KeyTokenizerAddBOS         = "tokenizer.ggml.add_bos_token"
	KeyTokenizerAddEOS         = "tokenizer.ggml.add_eos_token"
	KeyChatTemplate            = "tokenizer.chat_template"

	// distill's provenance keys.
	KeyDistillVersion       = "distill.version"
	KeyDistillCheckpoint    = "distill.checkpoint"
	KeyDistillTokenizerHash = "distill.tokenizer_hash"
	KeyDistillShareBlocks   = "distill.share_blocks"
	// Llama 3 rope_scaling parameters (the file's rope_freqs.weight holds
	// the factors they imply; these keys let distill read the config back).
	KeyDistillRopeScalingFactor          = "distill.rope_scaling.factor"
	KeyDistillRopeScalingLowFreqFactor   = "distill.rope_scaling.low_freq_factor"
	KeyDistillRopeScalingHighFreqFactor  = "distill.rope_scaling.high_freq_factor"
	KeyDistillRopeScalingOriginalContext = "distill.rope_scaling.original_context_length"
)

// ArchKey is the hyperparameter key name (a Hyper* constant) of
// architecture arch, e.g. ArchKey("qwen2", HyperBlockCount) =
// "qwen2.block_count".
func ArchKey(arch, name string) string { return arch + "." + name }
