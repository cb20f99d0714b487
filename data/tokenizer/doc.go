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
package tokenizer
