package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/policy"
	"github.com/distill-ml/distill/distill/serve/servetest"
)

// TestMain lets the kill test re-run this test binary as a collector process.
func TestMain(m *testing.M) {
	if path := os.Getenv("DISTILL_COLLECT_CHILD"); path != "" {
		os.Exit(childCollect(path))
	}
	os.Exit(m.Run())
}

func childCollect(cfgPath string) int {
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return 3
	}
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return 3
	}
	var pol policy.Policy
	if err := configs.Decode("policy", []byte(testPolicy), &pol); err != nil || pol.Validate() != nil {
		return 3
	}
	cfg.Defaults()
	tt, err := teacher.NewOpenAI(*cfg.Teacher.OpenAI)
	if err != nil {
		return 3
	}
	_, err = Run(context.Background(), Options{Config: cfg, Teacher: tt, Tokenizer: servetest.Tokenizer{}, EOS: servetest.EOS, Policy: &pol, Seed: 2})
	if err != nil {
		os.Stderr.WriteString(err.Error())
		return 1
	}
	return 0
}

func journalSegments(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte(`"kind":"shard"`))
}

// TestKillDashNineAndResume really kills a collecting process twice, at
// different points, and checks that the final dataset holds every prompt
// exactly once, and the same bytes as an uninterrupted run.
func TestKillDashNineAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and resumes a child process: not in -short")
	}
	e := newEnv(t, 150)
	e.cfg.SegmentRows = 5
	e.cfg.Concurrency = 2
	cfgPath := filepath.Join(t.TempDir(), "cfg.json")
	b, _ := json.Marshal(e.cfg)
	os.WriteFile(cfgPath, b, 0o644)
	jpath := filepath.Join(e.cfg.Out, JournalFile)
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "DISTILL_COLLECT_CHILD="+cfgPath, "DISTILL_COLLECT_TEST_KEY="+testKey)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// Once the journal names killAfter segments, the teacher answers nothing
	// more: the collector cannot finish before it is killed, however slowly
	// this process polls.
	var killAfter atomic.Int64
	e.proxy.HoldWhile(func() bool { return int64(journalSegments(jpath)) >= killAfter.Load() })
	for _, k := range []int64{2, 9} {
		killAfter.Store(k)
		cmd := start()
		deadline := time.Now().Add(60 * time.Second)
		for int64(journalSegments(jpath)) < k {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("collector made no progress (%d segments)", journalSegments(jpath))
			}
			time.Sleep(2 * time.Millisecond)
		}
		cmd.Process.Kill() // SIGKILL: no cleanup runs
		cmd.Wait()
	}
	atKill := journalSegments(jpath)
	killAfter.Store(math.MaxInt64)
	cmd := start()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("resumed collector failed: %v", err)
	}
	if final := journalSegments(jpath); final <= atKill {
		t.Fatalf("the kills came after the work was done (%d segments at kill, %d at the end)", atKill, final)
	}
	prompts, rows, fails := e.outcome(t)
	for _, p := range prompts {
		_, stored := rows[p.ID]
		_, failed := fails[p.ID]
		if stored == failed {
			t.Errorf("prompt %q: stored %v failed %v", p.Prompt, stored, failed)
		}
	}
	// Rows are in prompt order and segments are committed whole, so the
	// resumed dataset is the one an uninterrupted run (at another
	// concurrency, in this process) stores. The teacher answers each prompt
	// the same every time: its transient faults are retried away, its
	// permanent ones fail every time.
	ref := *e
	ref.cfg.Out = filepath.Join(t.TempDir(), "uninterrupted")
	ref.cfg.Concurrency = 4
	if _, err := ref.run(t, context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got, want := datasetDigest(t, filepath.Join(e.cfg.Out, DatasetDir)), datasetDigest(t, filepath.Join(ref.cfg.Out, DatasetDir)); !reflect.DeepEqual(got, want) {
		t.Errorf("killed and resumed dataset differs from an uninterrupted run:\n got %v\nwant %v", got, want)
	}
	entries, _ := os.ReadDir(filepath.Join(e.cfg.Out, SegmentsDir))
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".") {
			t.Errorf("temporary segment left behind: %s", en.Name())
		}
	}
	entries, _ = os.ReadDir(e.cfg.Out)
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".") || strings.HasSuffix(en.Name(), ".old") {
			t.Errorf("temporary dataset left behind: %s", en.Name())
		}
	}
}
