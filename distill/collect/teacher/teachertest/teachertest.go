// Package teachertest holds fakes for testing OpenAI-compatible teachers
// without DNS or a wall clock: a table Resolver (whose answers can change
// between lookups, as under DNS rebinding) and Deadlines, per-request
// deadlines that end when the test says so, which plug into teacher.Env;
// and FaultProxy, the fault-injecting proxy in front of an OpenAI-compatible
// server that collection tests (in process and end to end) run against.
package teachertest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// Resolver answers lookups from a table. Each host's answers are used in
// turn and the last one repeats; an unknown host fails like NXDOMAIN.
type Resolver struct {
	mu      sync.Mutex
	answers map[string][][]net.IPAddr
	lookups map[string]int
}

// NewResolver returns an empty table.
func NewResolver() *Resolver {
	return &Resolver{answers: map[string][][]net.IPAddr{}, lookups: map[string]int{}}
}

// Answer appends one lookup's answer for host: the addresses ips.
func (r *Resolver) Answer(host string, ips ...string) *Resolver {
	var as []net.IPAddr
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			panic(fmt.Sprintf("teachertest: %q is not an IP address", s))
		}
		as = append(as, net.IPAddr{IP: ip})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[host] = append(r.answers[host], as)
	return r
}

// LookupIPAddr implements teacher.Resolver.
func (r *Resolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	answers := r.answers[host]
	if len(answers) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	n := r.lookups[host]
	r.lookups[host]++
	return append([]net.IPAddr(nil), answers[min(n, len(answers)-1)]...), nil
}

// Lookups is how often host was looked up.
func (r *Resolver) Lookups(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups[host]
}

// Deadlines are per-request deadlines under the test's control: one ends
// when the test calls Expire with its key. The real timeout is kept only as
// a backstop, so a broken test fails instead of hanging; give requests a
// generous timeout and no outcome depends on the machine's speed.
type Deadlines struct {
	mu   sync.Mutex
	live map[string]map[*deadline]bool
}

type deadline struct{ cancel context.CancelFunc }

// NewDeadlines returns deadlines with none live.
func NewDeadlines() *Deadlines { return &Deadlines{live: map[string]map[*deadline]bool{}} }

// Deadline returns a context that ends when Expire(key) is called (or after
// the backstop timeout), and its cancel function; the deadline is live
// until one of them ends it.
func (d *Deadlines) Deadline(ctx context.Context, key string, backstop time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, backstop)
	dl := &deadline{cancel: cancel}
	d.mu.Lock()
	if d.live[key] == nil {
		d.live[key] = map[*deadline]bool{}
	}
	d.live[key][dl] = true
	d.mu.Unlock()
	return ctx, func() { d.end(key, dl) }
}

func (d *Deadlines) end(key string, dl *deadline) {
	d.mu.Lock()
	delete(d.live[key], dl)
	if len(d.live[key]) == 0 {
		delete(d.live, key)
	}
	d.mu.Unlock()
	dl.cancel()
}

// Expire ends the live deadlines of key and reports whether there was one.
func (d *Deadlines) Expire(key string) bool {
	d.mu.Lock()
	var dls []*deadline
	for dl := range d.live[key] {
		dls = append(dls, dl)
	}
	d.mu.Unlock()
	for _, dl := range dls {
		d.end(key, dl)
	}
	return len(dls) > 0
}
