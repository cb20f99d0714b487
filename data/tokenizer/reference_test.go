package tokenizer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
)

// referenceScript tokenizes framed chunks (uint32 LE length + bytes) from
// stdin with @lenml/tokenizers. Invalid UTF-8 is fed as HF cannot take it:
// the script finds the well-formed UTF-8 sequences itself (Unicode Table
// 3-7), encodes each maximal valid run as a JS string with
// encode(text, {add_special_tokens: false}), and maps each remaining byte to
// the id of its character in the reference's own ByteLevel byte_encoder.
//
// mode "ids" writes, per chunk, uint32 count + int32 ids; mode "ids+text"
// follows each chunk's ids with its reference decoding of them (uint32
// length + UTF-8; no special tokens skipped, no clean-up). mode "bench"
// writes JSON {bytes, seconds, cpu_seconds}: the best wall-clock and the
// best CPU time (user + system, all threads) of three passes over all
// chunks, after loading.
const referenceScript = `
import { TokenizerLoader } from "@lenml/tokenizers";
import fs from "node:fs";

const [jsonPath, configPath, mode] = process.argv.slice(2);
const tokenizerJSON = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
const tokenizerConfig = configPath ? JSON.parse(fs.readFileSync(configPath, "utf8")) : {};
const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });

function findByteEncoder(p) {
  if (!p) return null;
  if (p.byte_encoder) return p.byte_encoder;
  for (const s of p.tokenizers ?? []) { const r = findByteEncoder(s); if (r) return r; }
  return null;
}
// Bytes of invalid UTF-8 become the byte's token: its ByteLevel character,
// else (a text vocabulary) its <0xXX> byte-fallback token, else unk.
const byteEncoder = findByteEncoder(tok.pre_tokenizer);
const byteIds = [];
for (let b = 0; b < 256; b++) {
  const name = byteEncoder ? byteEncoder[b] : "<0x" + b.toString(16).toUpperCase().padStart(2, "0") + ">";
  let id = tok.model.tokens_to_ids.get(name);
  if (id === undefined && !byteEncoder) id = tok.model.unk_token_id;
  if (id === undefined) throw new Error("no token for byte " + b);
  byteIds.push(id);
}

// validLen returns the length of the well-formed UTF-8 sequence at buf[i], or 0.
function validLen(buf, i) {
  const n = buf.length, b0 = buf[i];
  const cont = (k, lo = 0x80, hi = 0xbf) => i + k < n && buf[i + k] >= lo && buf[i + k] <= hi;
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((b0 >= 0xe1 && b0 <= 0xec) || b0 === 0xee || b0 === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (b0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

const decoder = new TextDecoder("utf-8", { fatal: true });
// segments splits a chunk into strings (valid runs) and numbers (invalid bytes).
function segments(buf) {
  const out = [];
  let start = 0, i = 0;
  while (i < buf.length) {
    const l = validLen(buf, i);
    if (l > 0) { i += l; continue; }
    if (i > start) out.push(decoder.decode(buf.subarray(start, i)));
    out.push(buf[i]);
    i++;
    start = i;
  }
  if (i > start) out.push(decoder.decode(buf.subarray(start, i)));
  return out;
}

const input = fs.readFileSync(0);
const chunks = [];
let total = 0;
for (let off = 0; off < input.length; ) {
  const len = input.readUInt32LE(off);
  off += 4;
  const chunk = input.subarray(off, off + len);
  off += len;
  total += len;
  chunks.push(segments(chunk));
}

function encodeChunk(segs) {
  const ids = [];
  for (const s of segs) {
    if (typeof s === "number") ids.push(byteIds[s]);
    else for (const id of tok.encode(s, { add_special_tokens: false })) ids.push(id);
  }
  return ids;
}

if (mode === "bench") {
  let best = Infinity, bestCPU = Infinity;
  for (let pass = 0; pass < 3; pass++) {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (const segs of chunks) encodeChunk(segs);
    const c = process.cpuUsage(c0);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.min(best, dt);
    bestCPU = Math.min(bestCPU, (c.user + c.system) / 1e6);
  }
  process.stdout.write(JSON.stringify({ bytes: total, seconds: best, cpu_seconds: bestCPU }));
} else {
  const parts = [];
  for (const segs of chunks) {
    const ids = encodeChunk(segs);
    const b = Buffer.alloc(4 + 4 * ids.length);
    b.writeUInt32LE(ids.length, 0);
    for (let k = 0; k < ids.length; k++) b.writeInt32LE(ids[k], 4 + 4 * k);
    parts.push(b);
    if (mode === "ids+text") {
      const text = Buffer.from(tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }), "utf8");
      const n = Buffer.alloc(4);
      n.writeUInt32LE(text.length, 0);
      parts.push(n, text);
    }
  }
  process.stdout.write(Buffer.concat(parts));
}
`

// frameChunks encodes chunks as uint32 LE length + bytes.
func frameChunks(chunks [][]byte) []byte {
	var buf bytes.Buffer
	for _, c := range chunks {
		binary.Write(&buf, binary.LittleEndian, uint32(len(c)))
		buf.Write(c)
	}
	return buf.Bytes()
}

// referenceIDs runs the JS reference over chunks with the tokenizer.json at
// jsonPath (and tokenizer_config.json at configPath, "" for none).
func referenceIDs(t testing.TB, jsonPath, configPath string, chunks [][]byte) [][]int32 {
	ids, _ := reference(t, jsonPath, configPath, chunks, false)
	return ids
}

// reference runs the JS reference over chunks and returns its ids and, with
// withText, its decoding of those ids.
func reference(t testing.TB, jsonPath, configPath string, chunks [][]byte, withText bool) ([][]int32, []string) {
	t.Helper()
	mode := "ids"
	if withText {
		mode = "ids+text"
	}
	out := testpeers.RunNode(t, "@lenml/tokenizers", referenceScript, frameChunks(chunks), jsonPath, configPath, mode)
	res := make([][]int32, 0, len(chunks))
	var texts []string
	u32 := func(off int) int {
		if off+4 > len(out) {
			t.Fatalf("reference output truncated at byte %d", off)
		}
		return int(binary.LittleEndian.Uint32(out[off:]))
	}
	for off := 0; off < len(out); {
		n := u32(off)
		off += 4
		if off+4*n > len(out) {
			t.Fatalf("reference output truncated in chunk %d", len(res))
		}
		ids := make([]int32, n)
		for k := range ids {
			ids[k] = int32(binary.LittleEndian.Uint32(out[off+4*k:]))
		}
		off += 4 * n
		res = append(res, ids)
		if withText {
			n := u32(off)
			off += 4
			if off+n > len(out) {
				t.Fatalf("reference text truncated in chunk %d", len(res)-1)
			}
			texts = append(texts, string(out[off:off+n]))
			off += n
		}
	}
	if len(res) != len(chunks) {
		t.Fatalf("reference returned %d chunks, want %d", len(res), len(chunks))
	}
	return res, texts
}

// referenceSpeed returns the reference's encode throughput in MB/s, by
// wall-clock time and by CPU time.
func referenceSpeed(t testing.TB, jsonPath, configPath string, chunks [][]byte) (wall, cpu float64) {
	t.Helper()
	out := testpeers.RunNode(t, "@lenml/tokenizers", referenceScript, frameChunks(chunks), jsonPath, configPath, "bench")
	var r struct {
		Bytes      float64 `json:"bytes"`
		Seconds    float64 `json:"seconds"`
		CPUSeconds float64 `json:"cpu_seconds"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("reference bench output %q: %v", out, err)
	}
	return r.Bytes / r.Seconds / 1e6, r.Bytes / r.CPUSeconds / 1e6
}

// lenmlModel returns the tokenizer.json and tokenizer_config.json paths of
// an @lenml/tokenizer-<name> package.
func lenmlModel(t testing.TB, name string) (string, string) {
	t.Helper()
	pkg := "@lenml/tokenizer-" + name
	dir := filepath.Join(testpeers.NodeModules(t, pkg), filepath.FromSlash(pkg), "models")
	return filepath.Join(dir, "tokenizer.json"), filepath.Join(dir, "tokenizer_config.json")
}

// compareIDs reports the first mismatch between ours and the reference
// with the chunk's text around it.
func compareIDs(t *testing.T, tok *Tokenizer, chunks [][]byte, want [][]int32) {
	t.Helper()
	bad := 0
	for i, c := range chunks {
		got := tok.Encode(string(c))
		if slices.Equal(got, want[i]) {
			continue
		}
		bad++
		if bad > 3 {
			continue
		}
		k := 0
		for k < len(got) && k < len(want[i]) && got[k] == want[i][k] {
			k++
		}
		prefix := tok.Decode(got[:k])
		lo := max(0, k-4)
		t.Errorf("chunk %d (%d bytes): first mismatch at token %d, byte %d\n  context: %q⟨HERE⟩%q\n  ours: %v\n  ref:  %v\n  ours pieces: %s\n  ref pieces:  %s",
			i, len(c), k, len(prefix), tail(string(prefix), 60), head(string(c[len(prefix):]), 60),
			window(got, lo, k+6), window(want[i], lo, k+6), pieces(tok, window(got, lo, k+6)), pieces(tok, window(want[i], lo, k+6)))
	}
	if bad > 0 {
		t.Errorf("%d of %d chunks differ from the reference", bad, len(chunks))
	}
}

func window(ids []int32, lo, hi int) []int32 { return ids[min(lo, len(ids)):min(hi, len(ids))] }

func pieces(tok *Tokenizer, ids []int32) string {
	var parts []string
	for _, id := range ids {
		b, _ := tok.TokenBytes(id)
		parts = append(parts, fmt.Sprintf("%q", b))
	}
	return strings.Join(parts, " ")
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func head(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
