// Package blaspeer runs the benchmarks' OpenBLAS-backed peers (numpy and
// PyTorch under Debian's /usr/bin/python3) on their best kernel, and checks
// what they ran.
//
// This workplace may set OPENBLAS_CORETYPE=Haswell and OPENBLAS_L2_SIZE for
// older OpenBLAS builds; on an AVX-512 CPU that halves OpenBLAS's sgemm. A
// benchmark peer therefore runs with both removed from its environment (tests
// and CI keep the workplace's settings: only benchmarks use Env). Every peer
// reports the kernel core OpenBLAS chose (openblas_get_corename) and checks
// its own sgemm against a float64 reference computed without BLAS, so a
// benchmark refuses a peer that is fast because it is wrong.
package blaspeer

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// scrubbed are the variables removed from a peer's environment.
func scrubbed() []string { return []string{"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"} }

// Env returns base without the scrubbed OpenBLAS variables and with the
// given thread variables set (e.g. OPENBLAS_NUM_THREADS=1), and the
// "NAME=value" entries it removed (for the benchmark's header).
func Env(base []string, threads map[string]int) (env, removed []string) {
	drop := map[string]bool{}
	for _, k := range scrubbed() {
		drop[k] = true
	}
	for k := range threads {
		drop[k] = true
	}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if drop[k] {
			if _, isThread := threads[k]; !isThread {
				removed = append(removed, kv)
			}
			continue
		}
		env = append(env, kv)
	}
	for _, k := range slices.Sorted(maps.Keys(threads)) {
		env = append(env, k+"="+strconv.Itoa(threads[k]))
	}
	return env, removed
}

// Removed describes what Env removed from this process's environment, for
// a benchmark's header line.
func Removed() string {
	_, removed := Env(os.Environ(), nil)
	if len(removed) == 0 {
		return "no OpenBLAS overrides in the environment"
	}
	return "removed for the peer: " + strings.Join(removed, " ")
}

// MaxRelErr bounds a peer's sgemm error: max over sampled entries of
// |c − c64| / Σₖ|aᵢₖ·bₖⱼ|. Float32 accumulation stays near 1e-7 on these
// shapes (k·ε₃₂ = 6e-5 is the worst-case bound at k = 512); a wrong kernel
// is off by O(1).
const MaxRelErr = 1e-4

// InfoPy is Python that the peers' scripts start with. It defines
// openblas_info(), which finds the OpenBLAS library the process loaded (via
// /proc/self/maps) and returns {"libs", "openblas_config",
// "openblas_corename", "openblas_threads"}, and sgemm_rel_err(c, a, b), the
// error MaxRelErr bounds, over 16×16 sampled entries of c = a·b, with the
// float64 reference summed elementwise by numpy (no BLAS call).
const InfoPy = `
import ctypes as _ct
import numpy as _np

def openblas_info():
    libs = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l.lower() and '.so' in l})
    info = {"libs": libs}
    for lib in libs:
        try:
            h = _ct.CDLL(lib)
            h.openblas_get_config.restype = _ct.c_char_p
            h.openblas_get_corename.restype = _ct.c_char_p
            info["openblas_config"] = h.openblas_get_config().decode()
            info["openblas_corename"] = h.openblas_get_corename().decode()
            info["openblas_threads"] = h.openblas_get_num_threads()
            break
        except (OSError, AttributeError):
            pass
    return info

def sgemm_rel_err(c, a, b):
    m, k = a.shape
    n = b.shape[1]
    rows = _np.linspace(0, m - 1, min(m, 16)).astype(int)
    cols = _np.linspace(0, n - 1, min(n, 16)).astype(int)
    a64 = a[rows].astype(_np.float64)            # [r, k]
    b64 = b[:, cols].astype(_np.float64)         # [k, s]
    prod = a64[:, :, None] * b64[None, :, :]     # [r, k, s], no BLAS
    ref = prod.sum(axis=1)
    scale = _np.abs(prod).sum(axis=1)
    got = _np.asarray(c, dtype=_np.float64)[_np.ix_(rows, cols)]
    return float((_np.abs(got - ref) / _np.maximum(scale, 1e-30)).max())
`

// Info is what a peer reports about its BLAS.
type Info struct {
	Libs     []string `json:"libs"`
	Config   string   `json:"openblas_config"`
	Corename string   `json:"openblas_corename"`
	Threads  int      `json:"openblas_threads"`
}

// Check refuses a peer that does not run on OpenBLAS, or (wantThreads > 0)
// runs another thread count.
func (i Info) Check(wantThreads int) error {
	if i.Config == "" {
		return fmt.Errorf("peer does not run on OpenBLAS (loaded BLAS libraries: %v); install libopenblas0-pthread", i.Libs)
	}
	if wantThreads > 0 && i.Threads != wantThreads {
		return fmt.Errorf("peer's OpenBLAS runs %d threads, want %d", i.Threads, wantThreads)
	}
	return nil
}

// CheckErr refuses a peer whose sgemm error exceeds MaxRelErr.
func CheckErr(what string, relErr float64) error {
	if !(relErr <= MaxRelErr) { // NaN fails too
		return fmt.Errorf("peer computes %s wrong: sampled relative error %.3g against a float64 reference (bound %.0e); refusing to time it", what, relErr, MaxRelErr)
	}
	return nil
}

// String is e.g. "OpenBLAS core Cooperlake (OpenBLAS 0.3.21 NO_AFFINITY Cooperlake MAX_THREADS=64)".
func (i Info) String() string {
	return fmt.Sprintf("OpenBLAS core %s (%s)", i.Corename, i.Config)
}
