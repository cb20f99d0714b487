// Package rtbench measures distill's pure-Go inference runtime
// (model/infer) against llama.cpp on the same random-weight GGUF files:
// prompt processing and single-token decode speed, CPU time, and the load
// other processes put on the machine meanwhile.
//
// The peer is llama.cpp's own llama-bench, built natively (GGML_NATIVE=ON,
// Release) from the source that npm node-llama-cpp ships as a git bundle
// (llama/gitRelease.bundle) and cached per commit under
// .testdeps/llama-native/<commit>/ (EnsureLlamaBench, through testpeers.BuildLlamaCpp). node-llama-cpp's
// prebuilt generic x86-64 binary can be measured as a secondary peer
// (RunPrebuilt). Both sides run the same protocol as llama-bench: a warm-up,
// then reps repetitions of a prompt of P tokens on an empty context and of
// N single-token decode steps on an empty context; the best repetition counts.
//
// The command bench/runtime drives it; model/infer's
// BenchmarkRuntimeVsLlamaCpp calls the same functions.
package rtbench
