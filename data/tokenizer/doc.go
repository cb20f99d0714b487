// Package tokenizer is distill's BPE tokenizer: it loads and saves Hugging
// Face tokenizer.json files for BPE models — byte-level (GPT-2, Llama 3,
// Qwen, gpt-oss, ...) and SentencePiece-style over characters with
// byte_fallback (Llama 2, Gemma) — through the general Hugging Face
// pipeline, with hand-written fast paths for the GPT-2, Llama 3 and
// Qwen2/Qwen3 split patterns, encodes
// and decodes with exact round trips for any input bytes, matches added and
// special tokens in the input as Hugging Face does, trains new tokenizers
// deterministically, and converts to and from the vocabulary arrays of a GGUF
// file (llama.cpp's "gpt2" tokenizer model, and its "llama" SentencePiece
// model, rebuilt as char-level BPE with byte_fallback: spm.go).
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
// # The general pipeline
//
// A tokenizer.json whose normalizer is more than one Unicode normalization,
// or whose pre-tokenizer is not one of the three patterns, runs through the
// general pipeline (pipeline.go, general.go), component by component with
// Hugging Face tokenizers' semantics: normalizers NFC/NFD/NFKC/NFKD,
// Lowercase, Prepend, Replace, Strip and Sequence; pre-tokenizers Split (a
// literal or any Oniguruma-style regex, run by github.com/dlclark/regexp2,
// which has the lookahead Go's regexp lacks; every behavior, invert),
// Digits, ByteLevel (with or without its regex), Metaspace and Sequence;
// decoders ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace and
// Sequence. Without a ByteLevel pre-tokenizer the vocabulary spells tokens
// as text ("▁the", "<0x0A>"): BPE starts from characters, a character
// outside the vocabulary becomes its <0xXX> bytes (byte_fallback) or the
// unknown token (fused with fuse_unk), and TokenBytes is a token's decoded
// text. ByteFallback decoding keeps the raw bytes of a run that is not valid
// UTF-8 (Hugging Face writes U+FFFD), so Decode(Encode(b)) stays exact where
// the decoders allow it. An unsupported component is an error naming its
// type and JSON path ("pre_tokenizer.pretokenizers[1]: unsupported
// pre-tokenizer type "Whitespace""). TestFastPathsEqualGeneralPath proves
// the fast paths identical to the general pipeline on the parity corpus;
// TestParityWithReference checks ids and decoded text against the JS
// reference on nine real tokenizers.
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
// as in Hugging Face) with the components listed above. Anything else is a
// clear error naming the file and field. Sizes are bounded
// before allocating. Hugging Face keeps special-token roles and the chat
// template in tokenizer_config.json: Load reads it from beside the file
// (ConfigPath) and Save writes both files, each atomically. No extra keys go
// into tokenizer.json (Hugging Face's Rust loader rejects unknown keys).
//
// # Identity
//
// Hash is sha256 over a canonical serialization of everything that decides
// the ids (pattern, normalizer, ignore_merges, each token's type and bytes,
// merges in rank order, added-token flags) plus BOS/EOS/PAD, and for the
// general pipeline its normalizer and pre-tokenizer sections (canonical
// JSON), unk and byte_fallback; formatting and the chat template do not
// count, and fast-path tokenizers hash as before. Datasets record it and the trainer checks it.
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
// (byte-level token strings, types 1/3/4, "a b" merges); besides the three
// fast-path names, FromGGUFVocab knows "smollm" (single digits, then GPT-2)
// and "gpt-4o" (o200k), and GGUFVocab names a general pipeline that is one
// of them. A text (SentencePiece-style) vocabulary has no "gpt2" form.
package tokenizer
