// Package ops holds distill's custom Gorgonia operations for training the
// student: each op is a gorgonia.Op with explicit forward and backward kernels
// over flat row-major float32 buffers (llm.c style), parallelised on the shared
// worker pool (num/parallel), and differentiable through Gorgonia's
// symbolic differentiation (SDOp) so gorgonia.Grad builds the backward graph.
//
// Conventions shared by every op:
//   - Activations are matrices [N, width] with N = B·T positions, row-major,
//     position p = b·T + t (the data/batch layout).
//   - Linear weights are stored out × in (y = x·Wᵀ), as llama.cpp does.
//   - Each op instance owns its output buffers, scratch and the worker
//     function it hands to the pool (bound once), so its Do allocates nothing
//     in steady state (TestOpsAllocFree). An output tensor is only valid until
//     the op runs again, which happens once per run of the graph.
//   - Values needed only by an op's own backward (RMSNorm's 1/rms, attention
//     probabilities, LM-head logit gradients) live in op-private scratch that is
//     never handed to Gorgonia as a value.
//   - Per-step inputs that are not float tensors (token ids, targets, masks,
//     teacher signals, the document starts attention masks by) are read from
//     a *Batch the caller fills before running the machine (see Feed).
//   - Q/K/V and gate/up come from fused projections ([N, (H+2·KV)·hd] and
//     [N, 2·ffn]), so attention and SwiGLU have one input and one gradient.
//     An op with gradients for several inputs that one kernel computes
//     together (the LM-head loss: dh and dW) uses a bundle op whose value is
//     the first gradient and cheap fetch ops exposing the others.
//   - Gradients of weights used once can be written straight into the
//     caller's buffer (BackOutput).
//   - One op instance may be applied to several nodes (model/student's
//     activation recomputation applies each block op of block 0 to every
//     block): the nodes then share its buffers, its SymDiff hands all of them
//     one shared gradient op (made on the first call), and a value is valid
//     only until any node of the op runs again, so the caller must order the
//     runs (recompute a block's forward before its backward) and rebind
//     weight-gradient outputs per node (RebindOutput).
//
// Gorgonia's InverseSqrt is never used (its gradient is wrong in v0.9.18).
package ops
