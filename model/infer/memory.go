package infer

import (
	"fmt"

	"github.com/distill-ml/distill/internal/sysmem"
)

// DefaultContext is the sessions' context length when Options.Context is 0
// and the file's llama.context_length is longer (llama.cpp's default n_ctx).
// A file may declare millions of positions; a session sized to that would
// need tens of GiB of KV cache.
const DefaultContext = 4096

// ContextLength is the longest sequence a session of m can hold:
// Options.Context, or the file's llama.context_length up to DefaultContext.
func (m *Model) ContextLength() int { return m.ctxCap }

// KVCacheBytes is the KV cache of one session holding ctx positions
// (K and V, every layer, at the cache's element size).
func (m *Model) KVCacheBytes(ctx int) int64 {
	h := m.Hyper
	elem := int64(2)
	if m.kvF32 {
		elem = 4
	}
	return int64(ctx) * int64(h.NLayers) * 2 * int64(h.NKVHeads) * int64(h.HeadDim) * elem
}

// sessionBytes is what one session holding ctx positions allocates for
// them: the KV cache and the RoPE cos/sin tables.
func (m *Model) sessionBytes(ctx int) int64 {
	return m.KVCacheBytes(ctx) + int64(ctx)*int64(m.Hyper.RopeDim/2)*2*4
}

// planMemory sets the sessions' context cap from opts and refuses a plan
// whose weights (the file) plus Sessions full sessions do not fit in
// opts.MemoryLimit or the memory the system reports available. It runs
// before the weights are read, so a file or a context that cannot fit is an
// error, not an out-of-memory crash.
func (m *Model) planMemory(opts Options) error {
	h := m.Hyper
	switch {
	case opts.Context < 0:
		return fmt.Errorf("context length %d must be ≥ 0 (0: the model's, up to %d)", opts.Context, DefaultContext)
	case opts.Context > h.ContextLength:
		return fmt.Errorf("context length %d exceeds the model's llama.context_length %d", opts.Context, h.ContextLength)
	case opts.Context > 0:
		m.ctxCap = opts.Context
	default:
		m.ctxCap = min(h.ContextLength, DefaultContext)
	}
	if opts.Sessions < 0 {
		return fmt.Errorf("sessions %d must be ≥ 0", opts.Sessions)
	}
	sessions := max(opts.Sessions, 1)
	avail := opts.MemoryLimit
	have := func() string { return "the memory limit is " + sysmem.Format(avail) }
	if avail <= 0 {
		var err error
		if avail, err = sysmem.Available(); err != nil {
			return nil // the system reports nothing to check against
		}
		have = func() string { return "only " + sysmem.Format(avail) + " is available (MemAvailable)" }
	}
	weights := m.file.Size
	kv := int64(sessions) * m.sessionBytes(m.ctxCap)
	if weights+kv <= avail {
		return nil
	}
	if weights > avail {
		return fmt.Errorf("the weights need %s (the file) but %s: use a smaller or more quantized model",
			sysmem.Format(weights), have())
	}
	return fmt.Errorf("the KV cache and RoPE tables of %d session(s) × %d tokens need %s (%s per token) on top of the weights' %s, but %s: lower the context length (--ctx; the file's llama.context_length is %d)",
		sessions, m.ctxCap, sysmem.Format(kv), sysmem.Format(m.sessionBytes(1)),
		sysmem.Format(weights), have(), h.ContextLength)
}
