package gguf

// Metadata keys distill reads and writes, as llama.cpp names them
// (gguf-py/gguf/constants.py). Hyperparameter keys carry the architecture
// ("llama."); distill writes only llama files.
const (
	KeyArchitecture        = "general.architecture"
	KeyName                = "general.name"
	KeyVersion             = "general.version"
	KeyDescription         = "general.description"
	KeyAuthor              = "general.author"
	KeyLicense             = "general.license"
	KeyFileType            = "general.file_type" // llama_ftype; see quant.FileType
	KeyQuantizationVersion = "general.quantization_version"

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

	KeyTokenizerModel      = "tokenizer.ggml.model"
	KeyTokenizerPre        = "tokenizer.ggml.pre"
	KeyTokenizerTokens     = "tokenizer.ggml.tokens"
	KeyTokenizerTokenTypes = "tokenizer.ggml.token_type"
	KeyTokenizerMerges     = "tokenizer.ggml.merges"
	KeyTokenizerBOS        = "tokenizer.ggml.bos_token_id"
	KeyTokenizerEOS        = "tokenizer.ggml.eos_token_id"
	KeyTokenizerEOT        = "tokenizer.ggml.eot_token_id"
	KeyTokenizerPAD        = "tokenizer.ggml.padding_token_id"
	KeyTokenizerAddBOS     = "tokenizer.ggml.add_bos_token"
	KeyTokenizerAddEOS     = "tokenizer.ggml.add_eos_token"
	KeyChatTemplate        = "tokenizer.chat_template"

	// distill's provenance keys.
	KeyDistillVersion       = "distill.version"
	KeyDistillCheckpoint    = "distill.checkpoint"
	KeyDistillTokenizerHash = "distill.tokenizer_hash"
	KeyDistillShareBlocks   = "distill.share_blocks"
)
