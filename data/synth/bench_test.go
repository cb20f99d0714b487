package synth

import "testing"

// BenchmarkGenerate measures corpus generation (in memory) at scale 0.1;
// b.SetBytes reports MB/s of training JSONL text produced.
func BenchmarkGenerate(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Scale = 0.1
	var bytes int64
	for i := 0; i < b.N; i++ {
		c, err := Generate(cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		if bytes == 0 {
			for _, ex := range c.Train {
				bytes += int64(len(ex.Prompt) + len(ex.Completion))
			}
			b.SetBytes(bytes)
		}
	}
}

// BenchmarkScore measures grading one golden answer.
func BenchmarkScore(b *testing.B) {
	out := " Open a Tier 2 ticket within 4 hours [§7.1].\n"
	for i := 0; i < b.N; i++ {
		if !Score(escalationItem, out).Correct {
			b.Fatal("not correct")
		}
	}
}
