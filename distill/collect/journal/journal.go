// Package journal is the progress journal that makes collection resumable
// after kill -9: an append-only JSONL file, fsynced after every record, that
// says which prompt ids are settled — stored in a committed shard, or
// recorded as permanently failed. A prompt is settled exactly once.
//
// The commit protocol: a shard file is written atomically (temp, fsync,
// rename) first, then a "shard" record naming it, its sha256 and its ids is
// appended. A crash between the two leaves an orphan shard that no record
// names; Open reports it so the caller deletes it and its rows are collected
// again. A crash inside an append leaves a torn last line, which Open drops
// (and truncates away) because nothing it named was acknowledged.
package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
)

// Record is one journal line.
type Record struct {
	Kind   string   `json:"kind"` // "shard" or "failed"
	File   string   `json:"file,omitempty"`
	SHA256 string   `json:"sha256,omitempty"`
	IDs    []string `json:"ids,omitempty"`
	// TeacherRows: how many of a shard's rows carry teacher top-k (the rest are text-only).
	TeacherRows int    `json:"teacher_rows,omitempty"`
	ID          string `json:"id,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Detail      string `json:"detail,omitempty"`
}

// Journal is an open journal. Safe for concurrent use.
type Journal struct {
	mu      sync.Mutex
	f       *os.File
	path    string
	settled map[string]string // id → "shard:<file>" or "failed:<reason>"
	shards  []Record
	failed  []Record
}

// Open opens (creating if needed) the journal at path and replays it.
func Open(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{f: f, path: path, settled: map[string]string{}}
	if err := j.replay(); err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

func (j *Journal) replay() error {
	data, err := io.ReadAll(j.f)
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	good := 0 // bytes of complete, valid lines
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		end := good + len(b) + 1
		complete := end <= len(data) && data[end-1] == '\n'
		var r Record
		if err := json.Unmarshal(b, &r); err != nil || !complete {
			if !complete {
				break // torn last line: never acknowledged
			}
			return fmt.Errorf("journal %s line %d: %v", j.path, line, err)
		}
		if err := j.apply(r); err != nil {
			return fmt.Errorf("journal %s line %d: %w", j.path, line, err)
		}
		good = end
	}
	if good < len(data) {
		if err := j.f.Truncate(int64(good)); err != nil {
			return fmt.Errorf("journal %s: drop torn tail: %w", j.path, err)
		}
	}
	_, err = j.f.Seek(int64(good), io.SeekStart)
	return err
}

func (j *Journal) apply(r Record) error {
	switch r.Kind {
	case "shard":
		if r.File == "" {
			return errors.New("shard record without file")
		}
		for _, id := range r.IDs {
			if prev, ok := j.settled[id]; ok {
				return fmt.Errorf("id %s settled twice (%s, then shard:%s)", id, prev, r.File)
			}
			j.settled[id] = "shard:" + r.File
		}
		j.shards = append(j.shards, r)
	case "failed":
		if r.ID == "" {
			return errors.New("failed record without id")
		}
		if prev, ok := j.settled[r.ID]; ok {
			return fmt.Errorf("id %s settled twice (%s, then failed)", r.ID, prev)
		}
		j.settled[r.ID] = "failed:" + r.Reason
		j.failed = append(j.failed, r)
	default:
		return fmt.Errorf("unknown record kind %q", r.Kind)
	}
	return nil
}

func (j *Journal) append(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	// Validate against the current state before writing anything.
	probe := map[string]bool{}
	for _, id := range append(append([]string{}, r.IDs...), r.ID) {
		if id == "" {
			continue
		}
		if _, ok := j.settled[id]; ok || probe[id] {
			return fmt.Errorf("journal: id %s is already settled", id)
		}
		probe[id] = true
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	return j.apply(r)
}

// CommitShard records that file (already renamed into place) holds ids, of
// which teacherRows carry teacher top-k.
func (j *Journal) CommitShard(file, sha256 string, ids []string, teacherRows int) error {
	if teacherRows < 0 || teacherRows > len(ids) {
		return fmt.Errorf("journal: shard %s: %d teacher rows of %d", file, teacherRows, len(ids))
	}
	return j.append(Record{Kind: "shard", File: file, SHA256: sha256, IDs: ids, TeacherRows: teacherRows})
}

// Fail records a permanent failure for id.
func (j *Journal) Fail(id, reason, detail string) error {
	return j.append(Record{Kind: "failed", ID: id, Reason: reason, Detail: detail})
}

// Settled reports whether id is stored or failed.
func (j *Journal) Settled(id string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.settled[id]
	return ok
}

// Shards returns the committed shard records in commit order.
func (j *Journal) Shards() []Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Record(nil), j.shards...)
}

// Failures returns the failure records, in order.
func (j *Journal) Failures() []Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Record(nil), j.failed...)
}

// Orphans lists files among candidates (e.g. the shard files in the output
// directory) that no shard record names: written, but never acknowledged.
func (j *Journal) Orphans(candidates []string) []string {
	j.mu.Lock()
	named := map[string]bool{}
	for _, s := range j.shards {
		named[s.File] = true
	}
	j.mu.Unlock()
	var out []string
	for _, c := range candidates {
		if !named[c] {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

// Close closes the file.
func (j *Journal) Close() error { return j.f.Close() }
