package infer_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/bench/runtime/rtbench"
	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/infer/infertest"
)

// rssChildEnv names the model file a child process of
// TestRSSWithinFilePlusKV measures.
const rssChildEnv = "DISTILL_RSS_CHILD_MODEL"

// TestRSSWithinFilePlusKV checks the runtime's memory bound: the peak
// resident set grows by at most file size + KV cache + 30% from before Load
// to the end of a 128-token prompt and 64 decode steps (weights are mapped,
// not copied; scratch is small). It measures in a child process (this test
// binary re-run) so that other tests' heap does not count, on a
// MobileLLM-125M-shaped Q8_0 file (127 MiB) and its Q4_K_M mix. Linux only
// (/proc/self/status VmRSS and VmHWM).
func TestRSSWithinFilePlusKV(t *testing.T) {
	if path := os.Getenv(rssChildEnv); path != "" {
		rssChild(path)
		return
	}
	if sysmem.ProcStatusBytes("VmHWM") == 0 {
		t.Skip("no peak RSS (/proc/self/status VmHWM) on this system")
	}
	if testing.Short() {
		t.Skip("writes 220 MB of model files")
	}
	dir := t.TempDir()
	for _, typ := range []string{"Q8_0", "Q4_K_M"} {
		sp := infertest.MobileLLM125M()
		sp.Type = typ
		path := filepath.Join(dir, "125m-"+typ+".gguf")
		if err := infertest.WriteRandomModel(path, sp); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestRSSWithinFilePlusKV$", "-test.count=1")
		cmd.Env = append(os.Environ(), rssChildEnv+"="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: child: %v\n%s", typ, err, out)
		}
		var growth, kv int64
		found := false
		for _, line := range strings.Split(string(out), "\n") {
			if _, err := fmt.Sscanf(line, "rss-growth %d kv %d", &growth, &kv); err == nil {
				found = true
			}
		}
		if !found {
			t.Fatalf("%s: child printed no measurement:\n%s", typ, out)
		}
		budget := float64(st.Size()+kv) * 1.3
		t.Logf("%s: peak RSS growth %.1f MiB for file %.1f MiB + KV %.1f MiB (%.2f×; limit 1.3×)",
			typ, float64(growth)/(1<<20), float64(st.Size())/(1<<20), float64(kv)/(1<<20), float64(growth)/float64(st.Size()+kv))
		if float64(growth) > budget {
			t.Errorf("%s: peak RSS grew by %d bytes, over file %d + KV %d + 30%%", typ, growth, st.Size(), kv)
		}
	}
}

// rssChild loads path, evaluates a 128-token prompt and 64 greedy decode
// steps, and prints the peak RSS growth since before Load and the KV bytes.
func rssChild(path string) {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	rss0 := rtbench.RSSBytes()
	m, err := infer.Load(path, infer.Options{})
	if err != nil {
		fail(err)
	}
	defer m.Close()
	const prompt, decode = 128, 64
	s := m.NewSession(prompt + decode)
	tokens := make([]int32, prompt)
	for i := range tokens {
		tokens[i] = int32(2 + (i*7919)%(m.Hyper.VocabSize-2))
	}
	logits, err := s.Eval(tokens)
	if err != nil {
		fail(err)
	}
	for i := 0; i < decode; i++ {
		if logits, err = s.Eval([]int32{infer.Argmax(logits)}); err != nil {
			fail(err)
		}
	}
	peak := sysmem.ProcStatusBytes("VmHWM")
	if peak == 0 || rss0 == 0 {
		fail(fmt.Errorf("no VmRSS/VmHWM in /proc/self/status"))
	}
	fmt.Printf("rss-growth %d kv %d\n", peak-rss0, s.KVCacheBytes())
}
