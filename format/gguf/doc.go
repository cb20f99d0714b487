// Package gguf reads and writes GGUF v3 files, the model container of ggml and
// llama.cpp (ggml docs/gguf.md): a little-endian header, ordered metadata
// key-value pairs of 13 value types (arrays may nest), a tensor table (name,
// ggml dims with the row length first, ggml type, data offset) and a data
// section aligned to general.alignment (default 32) in which every tensor
// starts at an aligned offset.
//
// The reader validates everything it parses against the file size before it
// allocates (counts, string lengths, dims, offsets), rejects malformed input
// with an error naming the file, offset and field, and leaves tensor data on
// disk until asked. The writer streams tensor data from a callback and writes
// files atomically.
package gguf
