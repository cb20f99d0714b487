// Package tokenizer is distill's byte-level BPE tokenizer: it loads and saves
// Hugging Face tokenizer.json files for BPE models with the ByteLevel
// pre-tokenizer (the GPT-2, Llama 3 and Qwen2/Qwen3 split patterns), encodes
// and decodes with exact round trips for any input bytes, matches added and
// special tokens in the input as Hugging Face does, trains new tokenizers
// deterministically, and converts to and from the vocabulary arrays of a GGUF
// file (llama.cpp's "gpt2" tokenizer model).
//
// # Pipeline
//
// Encode runs, in order: added-token splitting (leftmost-longest match of every
// added token's content in the raw text), invalid-UTF-8 splitting (each byte
// that is not part of a well-formed UTF-8 sequence is a hard boundary and
// becomes the token of that single byte), the optional Unicode normalizer
// (NFC for Qwen), the pre-tokenizer (a hand-written scanner equivalent to the
// model's split regex; Go's regexp lacks the \s+(?!\S) lookahead), and BPE
// over the bytes of each piece. Decode concatenates the bytes of each token,
// so Decode(Encode(b)) == b for every byte string when the tokenizer has no
// normalizer (Llama 3, GPT-2 and every tokenizer trained here); with NFC
// (Qwen) the round trip is exact for NFC text.
//
// # Character classes
//
// \p{L} and \p{N} come from Go's unicode tables (Unicode 15.0). \s is Unicode
// White_Space, as in Hugging Face tokenizers (Oniguruma) and llama.cpp; the
// JavaScript reference (transformers.js) differs on exactly two code points:
// its \s includes U+FEFF and excludes U+0085.
//
// # Invalid UTF-8
//
// Hugging Face tokenizers only accept valid Unicode strings. Here every byte
// that utf8.DecodeRune reports as invalid (width 1, RuneError) splits the text
// and is emitted as the byte-level token of that byte; the valid runs between
// such bytes are tokenized independently. The parity test feeds the
// JavaScript reference the same decomposition: valid runs as strings, invalid
// bytes looked up in its own byte-to-unicode table and vocabulary.
//
// # Files
//
// Load/Parse read tokenizer.json files whose model is BPE (merges in either
// the "a b" or the ["a", "b"] form; a pair listed twice takes its later rank,
// as in Hugging Face) and whose pre-tokenizer is ByteLevel with its built-in
// GPT-2 regex, or a Sequence of Split (GPT-2, Llama 3 or Qwen2 pattern,
// Isolated) and ByteLevel without regex. Normalizers: none or NFC/NFD/NFKC/NFKD.
// Anything else is a clear error naming the file and field. Sizes are bounded
// before allocating. Hugging Face keeps special-token roles and the chat
// template in tokenizer_config.json: Load reads it from beside the file
// (ConfigPath) and Save writes both files, each atomically. No extra keys go
// into tokenizer.json (Hugging Face's Rust loader rejects unknown keys).
//
// # Identity
//
// Hash is sha256 over a canonical serialization of everything that decides
// the ids (pattern, normalizer, ignore_merges, each token's type and bytes,
// merges in rank order, added-token flags) plus BOS/EOS/PAD; formatting and
// the chat template do not count. Datasets record it and the trainer checks it.
//
// # Training and GGUF
//
// Train learns merges by exact pair counting over the pre-tokenized corpus
// (heap of pair counts with lazy invalidation; ties broken by token ids), so
// it is deterministic. Ids 0-255 are the bytes, then merged tokens, then the
// special tokens (by default <|begin_of_text|> BOS, <|end_of_text|> EOS,
// <|pad|> PAD, <|im_start|>, <|im_end|> for ChatML). The default pattern is
// Llama 3's, named "llama-bpe" in GGUF, and a llama-bpe tokenizer sets
// ignore_merges exactly as llama.cpp does for that name. GGUFVocab and
// FromGGUFVocab convert to and from llama.cpp's "gpt2" vocabulary arrays
// (byte-level token strings, types 1/3/4, "a b" merges).
package tokenizer
