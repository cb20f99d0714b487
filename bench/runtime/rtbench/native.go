package rtbench

import (
	"path/filepath"

	"github.com/distill-ml/distill/internal/testpeers"
)

// CMakeFlags configure the native llama.cpp build (testpeers.LlamaCMakeFlags).
var CMakeFlags = testpeers.LlamaCMakeFlags

// BuildOptions say where the llama.cpp source is and where to cache the
// build; Targets is ignored (EnsureLlamaBench builds llama-bench).
type BuildOptions = testpeers.LlamaBuildOptions

// BuildInfo describes a cached native build.
type BuildInfo = testpeers.LlamaBuildInfo

// NativeBuild is a usable llama-bench binary.
type NativeBuild struct {
	Bin  string
	Info BuildInfo
}

// BundleCommit is the commit the bundle's HEAD points at.
func BundleCommit(bundle string) (string, error) { return testpeers.LlamaBundleCommit(bundle) }

// EnsureLlamaBench returns a natively built llama-bench for the bundle's
// commit, built and cached by testpeers.BuildLlamaCpp in CacheDir/<commit>/.
func EnsureLlamaBench(o BuildOptions) (*NativeBuild, error) {
	o.Targets = []string{"llama-bench"}
	b, err := testpeers.BuildLlamaCpp(o)
	if err != nil {
		return nil, err
	}
	return &NativeBuild{Bin: filepath.Join(b.Dir, "llama-bench"), Info: b.Info}, nil
}
