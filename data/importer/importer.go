// Package importer converts text datasets (JSONL or Parquet with
// prompt/completion, chat "messages" or "text" columns, or plain text) into
// distill datasets (package dataset) of text-only rows, tokenized by any
// Encoder.
//
// Row shapes, per JSON object or Parquet row:
//
//	{"prompt": ..., "completion": ...}   prompt tokens are masked from the loss
//	{"messages": [{"role", "content", ...}, ...]}  rendered by the model's own chat
//	                                      template (Options.Chat); one row per assistant turn
//	{"text": ...}                         the whole text is the completion
//
// A plain-text file (.txt) is split into documents (Options.DocStart), each
// a text row: language-model data with every token a target.
//
// Optional "split" and "source" fields override the defaults. Other fields are
// ignored (JSONL) or not read (Parquet); the input file and line/row go into
// each row's provenance.
//
// Chat rendering: every assistant message of a conversation is a row. Its
// prompt is the template's rendering of the messages before it with the
// generation prompt; its completion is the turn as the template renders it,
// through the end-of-turn token (chattemplate.Chat.Turns). So every turn is
// trained on, with everything but the assistant's own text masked. The
// messages keep every field the template may read (tool_calls,
// reasoning_content, ...). A conversation must end with an assistant message
// (later messages would be lost). A leading BOS text the template renders is
// dropped, since BOS is Options.BOS's to prepend. Special-token texts become
// single tokens when the tokenizer defines them as added tokens.
package importer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/distill-ml/distill/data/chattemplate"
	"github.com/distill-ml/distill/data/dataset"
	"github.com/parquet-go/parquet-go"
)

// Encoder tokenizes text; *tokenizer.Tokenizer satisfies it.
type Encoder interface {
	Encode(text string) []int32
	Hash() string
	VocabSize() int
}

// Options controls an import.
type Options struct {
	Split  string // split of rows that name none (default "train")
	Source string // source of rows that name none (default: the input file's base name)
	BOS    int32  // prepended to every row; -1 for none
	EOS    int32  // appended after prompt/completion and text rows (chat ends with <|im_end|>); -1 for none
	Writer dataset.WriterOptions
	// Progress, if set, is called every 1000 rows with the rows read so far.
	Progress func(rows int64)
	// ReplaceInvalidUTF8 replaces each invalid UTF-8 sequence in the input
	// text with U+FFFD (counted in Stats.Replaced) instead of failing.
	ReplaceInvalidUTF8 bool
	// DocStart splits a plain-text input (.txt) into documents, one text
	// row each: a document begins at every line that starts with DocStart.
	// "" = every paragraph (lines between blank lines) is a document.
	DocStart string
	// Chat renders "messages" rows: the model's own chat template with its
	// special tokens (chattemplate.ForTokenizer). Required for messages rows.
	Chat *chattemplate.Chat
}

// Stats summarizes an import.
type Stats struct {
	Rows       int64 // rows written
	Tokens     int64
	Duplicates int64 // rows skipped because an earlier row had the same id (source and prompt; for text rows, source and text)
	Replaced   int64 // rows whose invalid UTF-8 was replaced (Options.ReplaceInvalidUTF8)
}

// maxLineBytes bounds one JSONL line.
const maxLineBytes = 64 << 20

// Message is one chat turn of a Parquet messages column.
type Message struct {
	Role    string `json:"role" parquet:"role"`
	Content string `json:"content" parquet:"content"`
}

// chatValues converts Parquet messages to template values.
func chatValues(msgs []Message) []chattemplate.Value {
	out := make([]chattemplate.Value, len(msgs))
	for i, m := range msgs {
		out[i] = chattemplate.Message(m.Role, m.Content)
	}
	return out
}

// example is one input row before tokenization.
type example struct {
	prompt, completion string
	chat               bool                 // completion ends with the template's end-of-turn, no EOS
	messages           []chattemplate.Value // a conversation still to render into turns
	split, source      string
	where              string // "line N" or "row N"
	replaced           bool   // invalid UTF-8 in the input was replaced by U+FFFD
}

// Import reads in (.jsonl/.json lines or .parquet) and writes a dataset to outDir.
func Import(in string, enc Encoder, outDir string, opts Options) (Stats, error) {
	if opts.Split == "" {
		opts.Split = "train"
	}
	if opts.Source == "" {
		opts.Source = filepath.Base(in)
	}
	meta := dataset.Meta{TokenizerHash: enc.Hash(), VocabSize: enc.VocabSize(), WriterVersion: "distill-import/1"}
	w, err := dataset.Create(outDir, meta, opts.Writer)
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	seen := map[string]bool{}
	var n int64
	var emit func(ex example) error
	emitTurns := func(ex example) error {
		if opts.Chat == nil {
			return fmt.Errorf("import %s %s: a messages row needs the model's chat template (none was given: the tokenizer has none, or it did not parse)", in, ex.where)
		}
		bos := opts.Chat.BOSToken
		turns, err := opts.Chat.Turns(ex.messages, nil)
		if err != nil {
			return fmt.Errorf("import %s %s: field %w", in, ex.where, err)
		}
		for _, turn := range turns {
			tex := ex
			tex.messages = nil
			tex.chat = true
			tex.prompt, tex.completion = turn.Prompt, turn.Completion
			if bos != "" {
				tex.prompt = strings.TrimPrefix(tex.prompt, bos)
			}
			tex.where = fmt.Sprintf("%s messages[%d]", ex.where, turn.Message)
			if err := emit(tex); err != nil {
				return err
			}
		}
		return nil
	}
	emit = func(ex example) error {
		if ex.messages != nil {
			return emitTurns(ex)
		}
		n++
		if opts.Progress != nil && n%1000 == 0 {
			opts.Progress(n)
		}
		if err := checkUTF8(&ex, opts.ReplaceInvalidUTF8); err != nil {
			return fmt.Errorf("import %s %s: %w", in, ex.where, err)
		}
		rec, err := tokenize(ex, enc, opts, in)
		if err != nil {
			return fmt.Errorf("import %s %s: %w", in, ex.where, err)
		}
		id := dataset.RecordID(rec.Source, rec.Prompt, rec.Completion)
		if seen[id] {
			st.Duplicates++
			return nil
		}
		seen[id] = true
		if err := w.Write(rec); err != nil {
			return fmt.Errorf("import %s %s: %w", in, ex.where, err)
		}
		st.Rows++
		st.Tokens += int64(len(rec.Tokens))
		if ex.replaced {
			st.Replaced++
		}
		return nil
	}
	switch strings.ToLower(filepath.Ext(in)) {
	case ".parquet":
		err = readParquet(in, emit)
	case ".jsonl", ".json", ".ndjson":
		err = readJSONL(in, opts.ReplaceInvalidUTF8, emit)
	case ".txt":
		err = readText(in, opts.DocStart, emit)
	default:
		err = fmt.Errorf("import %s: unknown input type (want .jsonl, .parquet or .txt)", in)
	}
	if err == nil && st.Rows == 0 {
		err = fmt.Errorf("import %s: no rows", in)
	}
	if err != nil {
		w.Abort() // leave no half-imported dataset behind
		return st, err
	}
	if err := w.Close(); err != nil {
		return st, err
	}
	return st, nil
}

func tokenize(ex example, enc Encoder, opts Options, in string) (*dataset.Record, error) {
	split, source := ex.split, ex.source
	if split == "" {
		split = opts.Split
	}
	if source == "" {
		source = opts.Source
	}
	var toks []int32
	if opts.BOS >= 0 {
		toks = append(toks, opts.BOS)
	}
	toks = append(toks, enc.Encode(ex.prompt)...)
	pl := len(toks)
	toks = append(toks, enc.Encode(ex.completion)...)
	if opts.EOS >= 0 && !ex.chat {
		toks = append(toks, opts.EOS)
	}
	if len(toks) == pl {
		return nil, errors.New("empty completion")
	}
	prov, _ := json.Marshal(map[string]string{"imported_from": filepath.Base(in), "at": ex.where})
	return &dataset.Record{
		Split: split, Source: source, Prompt: ex.prompt, Completion: ex.completion,
		Tokens: toks, PromptLen: pl, Provenance: string(prov),
	}, nil
}

// checkMessages checks a conversation's shape: mappings with a string role,
// ending with the assistant's message.
func checkMessages(msgs []chattemplate.Value) error {
	if len(msgs) == 0 {
		return errors.New("field messages: empty")
	}
	for i, m := range msgs {
		d, ok := m.(*chattemplate.Dict)
		if !ok {
			return fmt.Errorf("field messages[%d]: not an object", i)
		}
		role, _ := d.Get("role")
		if r, ok := role.(string); !ok || r == "" {
			return fmt.Errorf("field messages[%d].role: missing, empty or not a string", i)
		}
		if i == len(msgs)-1 && role != "assistant" {
			return fmt.Errorf("field messages: last message has role %q, want \"assistant\" (messages after the last assistant turn would be lost)", role)
		}
	}
	return nil
}

// jsonRow is the union of the accepted JSON shapes.
type jsonRow struct {
	Prompt     *string         `json:"prompt"`
	Completion *string         `json:"completion"`
	Messages   json.RawMessage `json:"messages"`
	Text       *string         `json:"text"`
	Split      string          `json:"split"`
	Source     string          `json:"source"`
}

func (r *jsonRow) example(where string) (example, error) {
	ex := example{split: r.Split, source: r.Source, where: where}
	switch {
	case r.Messages != nil:
		if r.Prompt != nil || r.Completion != nil || r.Text != nil {
			return ex, errors.New("row has both messages and prompt/completion/text fields")
		}
		v, err := chattemplate.FromJSON(r.Messages)
		if err != nil {
			return ex, fmt.Errorf("field messages: %w", err)
		}
		msgs, ok := v.([]chattemplate.Value)
		if !ok {
			return ex, errors.New("field messages: not a list")
		}
		if err := checkMessages(msgs); err != nil {
			return ex, err
		}
		ex.messages = msgs
	case r.Prompt != nil || r.Completion != nil:
		if r.Prompt == nil || r.Completion == nil {
			return ex, errors.New("row has only one of prompt and completion")
		}
		if r.Text != nil {
			return ex, errors.New("row has both prompt/completion and text")
		}
		ex.prompt, ex.completion = *r.Prompt, *r.Completion
	case r.Text != nil:
		ex.completion = *r.Text
	default:
		return ex, errors.New(`row has none of the fields "prompt"+"completion", "messages", "text"`)
	}
	return ex, nil
}

// readJSONL reads JSON lines. Invalid UTF-8 is an error naming the line and
// byte offset unless replace is set (encoding/json would otherwise replace
// it with U+FFFD silently).
func readJSONL(path string, replace bool, emit func(example) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var offset int64 // file offset of the current line
	for line := 1; ; line++ {
		b, n, err := readLine(br)
		if err == io.EOF {
			return nil
		}
		where := fmt.Sprintf("line %d", line)
		if err != nil {
			return fmt.Errorf("import %s %s: %w", path, where, err)
		}
		lineStart := offset
		offset += int64(n)
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		bad := invalidUTF8At(string(b))
		if bad >= 0 && !replace {
			return fmt.Errorf("import %s %s: invalid UTF-8 at byte %d of the line (file offset %d); fix the input or import with --replace-invalid-utf8",
				path, where, bad, lineStart+int64(bad))
		}
		var r jsonRow
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("import %s %s: %w", path, where, err)
		}
		ex, err := r.example(where)
		if err != nil {
			return fmt.Errorf("import %s %s: %w", path, where, err)
		}
		ex.replaced = bad >= 0
		if err := emit(ex); err != nil {
			return err
		}
	}
}

// readText reads a plain-text file as text rows, one per document: a
// document begins at every line starting with docStart (text before the
// first such line is a document too), or, when docStart is "", at every
// paragraph (a run of non-blank lines). Blank lines inside a docStart
// document are kept, trailing ones dropped; each document ends with one
// newline. A row's "where" is the line its document starts on.
func readText(path, docStart string, emit func(example) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var doc []string // lines of the current document
	start := 0       // its first line
	flush := func() error {
		for len(doc) > 0 && strings.TrimSpace(doc[len(doc)-1]) == "" {
			doc = doc[:len(doc)-1]
		}
		if len(doc) == 0 {
			return nil
		}
		ex := example{completion: strings.Join(doc, "\n") + "\n", where: fmt.Sprintf("line %d", start)}
		doc = doc[:0]
		return emit(ex)
	}
	for line := 1; ; line++ {
		b, _, err := readLine(br)
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return fmt.Errorf("import %s line %d: %w", path, line, err)
		}
		text := strings.TrimRight(string(b), "\r\n")
		blank := strings.TrimSpace(text) == ""
		newDoc := docStart != "" && strings.HasPrefix(text, docStart) ||
			docStart == "" && !blank && len(doc) == 0
		if newDoc {
			if err := flush(); err != nil {
				return err
			}
		}
		switch {
		case docStart == "" && blank:
			if err := flush(); err != nil {
				return err
			}
		case len(doc) == 0 && blank:
			// blank lines between documents belong to none
		default:
			if len(doc) == 0 {
				start = line
			}
			doc = append(doc, text)
		}
	}
}

// readLine reads one line (without the newline), bounded by maxLineBytes,
// and returns the number of bytes it consumed (newline included).
func readLine(br *bufio.Reader) ([]byte, int, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLineBytes {
			return nil, 0, fmt.Errorf("line longer than %d bytes", maxLineBytes)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if len(line) == 0 {
				return nil, 0, io.EOF
			}
			return line, len(line), nil
		}
		if err != nil {
			return nil, 0, err
		}
		return bytes.TrimRight(line, "\r\n"), len(line), nil
	}
}

// invalidUTF8At is the byte offset of the first invalid UTF-8 sequence in
// s, or -1.
func invalidUTF8At(s string) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// checkUTF8 checks the text fields of a row (Parquet strings are not
// checked by any decoder): invalid UTF-8 is an error naming the field and
// byte offset, or, with replace, is replaced by U+FFFD.
func checkUTF8(ex *example, replace bool) error {
	for _, f := range []struct {
		name string
		s    *string
	}{{"prompt", &ex.prompt}, {"completion", &ex.completion}, {"split", &ex.split}, {"source", &ex.source}} {
		bad := invalidUTF8At(*f.s)
		if bad < 0 {
			continue
		}
		if !replace {
			return fmt.Errorf("field %s: invalid UTF-8 at byte %d; fix the input or import with --replace-invalid-utf8", f.name, bad)
		}
		*f.s = strings.ToValidUTF8(*f.s, "\uFFFD")
		ex.replaced = true
	}
	return nil
}

// Parquet input row types, one per accepted shape; parquet-go reads the
// named columns and ignores the rest.
type pqPromptRow struct {
	Prompt     string `parquet:"prompt"`
	Completion string `parquet:"completion"`
	Split      string `parquet:"split"`
	Source     string `parquet:"source"`
}

type pqChatRow struct {
	Messages []Message `parquet:"messages,list"`
	Split    string    `parquet:"split"`
	Source   string    `parquet:"source"`
}

type pqTextRow struct {
	Text   string `parquet:"text"`
	Split  string `parquet:"split"`
	Source string `parquet:"source"`
}

func readParquet(path string, emit func(example) error) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("import %s: corrupt Parquet data (decoder panic: %v)", path, p)
		}
	}()
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	cols := map[string]bool{}
	for _, fld := range pf.Schema().Fields() {
		cols[fld.Name()] = true
	}
	switch {
	case cols["messages"]:
		return readParquetRows[pqChatRow](pf, path, func(r *pqChatRow, where string) (example, error) {
			msgs := chatValues(r.Messages)
			return example{messages: msgs, split: r.Split, source: r.Source, where: where}, checkMessages(msgs)
		}, emit)
	case cols["prompt"] && cols["completion"]:
		return readParquetRows[pqPromptRow](pf, path, func(r *pqPromptRow, where string) (example, error) {
			return example{prompt: r.Prompt, completion: r.Completion, split: r.Split, source: r.Source, where: where}, nil
		}, emit)
	case cols["text"]:
		return readParquetRows[pqTextRow](pf, path, func(r *pqTextRow, where string) (example, error) {
			return example{completion: r.Text, split: r.Split, source: r.Source, where: where}, nil
		}, emit)
	}
	var names []string
	for _, fld := range pf.Schema().Fields() {
		names = append(names, fld.Name())
	}
	return fmt.Errorf("import %s: no prompt+completion, messages or text column (columns: %s)", path, strings.Join(names, ", "))
}

func readParquetRows[T any](pf *parquet.File, path string, conv func(*T, string) (example, error), emit func(example) error) error {
	r := parquet.NewGenericReader[T](pf)
	defer r.Close()
	buf := make([]T, 64)
	var row int64
	for {
		clear(buf)
		n, err := r.Read(buf)
		for i := 0; i < n; i++ {
			where := fmt.Sprintf("row %d", row)
			ex, cerr := conv(&buf[i], where)
			if cerr != nil {
				return fmt.Errorf("import %s %s: %w", path, where, cerr)
			}
			if err := emit(ex); err != nil {
				return err
			}
			row++
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("import %s row %d: %w", path, row, err)
		}
	}
}
