// Package llamacpptest holds the check that llama.cpp tokenizes exactly as
// package tokenizer does: tokenizers are embedded in GGUF files with the
// export package and tokenized by node-llama-cpp. It lives apart from
// package tokenizer so that the tokenizer's own tests and fuzz targets build
// without the model and export packages.
package llamacpptest
