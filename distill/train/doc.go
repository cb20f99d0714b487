// Package train runs distillation training: it drives a student model
// (forward + backward through the loss) over batches from the data loader,
// updates the weights with AdamW under a warmup + cosine schedule with
// global-norm clipping and gradient accumulation, evaluates held-out loss,
// perplexity and teacher top-1 agreement every N updates, writes metrics as
// JSONL and a loss-curve PNG, and checkpoints (model/checkpoint) every N
// updates, on SIGINT/SIGTERM and at the end.
//
// The trainer talks to the model and the data through two small interfaces
// (Model, Loader) so that it can be tested with fakes and fault injection.
// *student.Model is a Model as it is (its parameters are optim.Params, the
// optimizer's own type); the adapter for data/loader lives beside them.
//
// Teacher in the loop: with teacher.local.model (a GGUF on the runtime) or
// teacher.openai (an endpoint with echo + logprobs), the teacher scores every
// batch as it is drawn instead of the dataset's stored signals — full
// distributions (ForwardBackwardDense) from a local teacher with dense:
// true, else top-k + tail. With train.on_policy.lambda > 0 the student
// completes that fraction of prompts itself (distill/onpolicy: a gguf
// export of its weights, refreshed every refresh_every updates, or the live
// graph), the teacher scores the samples and they train under
// loss.Config.Sampled (the configured divergence, no CE) in a second pass
// of the micro-batch; the update averages the passes. The sampler's
// generator is the trainer's RNG, so resume stays bit-identical. Each train
// row of metrics.jsonl then carries an "online" object (teacher time and
// share, off-policy loss, on-policy divergence, sample length, the teacher's
// mean log-probability of the samples, rollout time and tokens/s).
//
// Configuration: Load decodes a file over the defaults of every key
// (configs/train-defaults.yaml, DefaultsPreset); Prepare validates it once,
// with the student checked against its loss (student.Check), before reading
// any data.
//
// Determinism: with the same config and seed a run is bit-reproducible on one
// machine, and resuming from a checkpoint continues bit-identically — the
// weights, the AdamW moments and step, the loader position and the trainer
// RNG are all restored exactly, and every reduction runs in a fixed order.
//
// Numerical guard: a non-finite loss term or gradient norm stops the run with
// an error naming the update (nan_policy: stop) or drops that update
// (nan_policy: skip, at most max_skips in a row). The update is never
// applied, and checkpoint.Save refuses non-finite tensors, so a poisoned
// checkpoint is never written.
//
// Output directory layout:
//
//	<out_dir>/config.json        the resolved run config (student, loss, training)
//	<out_dir>/metrics.jsonl      one JSON object per update ("train"), evaluation ("eval") or skip
//	<out_dir>/loss.png           training and held-out loss against updates
//	<out_dir>/checkpoints/step-NNNNNNNN/  see model/checkpoint
package train
