// Package cpuinfo reads the processor's identity from /proc/cpuinfo: vendor,
// family, model, model name and the instruction-set extensions that decide
// which kernels run. Benchmarks print it beside every figure, because a ratio
// measured on one CPU family (Zen 4) need not hold on the next (Zen 5).
package cpuinfo

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Info is one processor's identity (the first CPU listed).
type Info struct {
	Vendor string   // vendor_id, e.g. "AuthenticAMD"
	Family int      // cpu family (-1 if not listed)
	Model  int      // model (-1 if not listed)
	Name   string   // model name, e.g. "AMD EPYC"
	Flags  []string // every flag, sorted
	CPUs   int      // logical processors listed
}

// kernelFlags are the extensions distill's and the peers' kernels dispatch on.
var kernelFlags = []string{
	"avx", "avx2", "fma", "f16c",
	"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx512_vnni", "avx512_bf16", "avx512vbmi",
	"avx512_vp2intersect", "avx_vnni", "amx_tile",
	"asimd", "asimddp", "sve", "sve2", "i8mm", // arm64 (Features line)
}

// Read parses /proc/cpuinfo.
func Read() (Info, error) {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return Info{Family: -1, Model: -1, Name: runtime.GOARCH}, fmt.Errorf("cpuinfo: %w", err)
	}
	return Parse(string(data)), nil
}

// Parse reads the text of /proc/cpuinfo. Fields of the first processor are
// kept; every "processor" line counts one logical CPU.
func Parse(text string) Info {
	in := Info{Family: -1, Model: -1}
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			in.CPUs++
		case "vendor_id", "CPU implementer":
			if !seen[k] {
				in.Vendor = v
			}
		case "cpu family":
			if !seen[k] {
				in.Family = atoi(v)
			}
		case "model", "CPU part":
			if !seen[k] {
				in.Model = atoi(v)
			}
		case "model name":
			if !seen[k] {
				in.Name = v
			}
		case "flags", "Features":
			if !seen[k] {
				in.Flags = strings.Fields(v)
				slices.Sort(in.Flags)
			}
		}
		seen[k] = true
	}
	if in.Name == "" {
		in.Name = runtime.GOARCH
	}
	return in
}

func atoi(s string) int {
	n, err := strconv.ParseInt(s, 0, 64) // "0xd0c" on arm64
	if err != nil {
		return -1
	}
	return int(n)
}

// Has reports whether the processor lists flag.
func (in Info) Has(flag string) bool {
	_, ok := slices.BinarySearch(in.Flags, flag)
	return ok
}

// KernelFlags are the listed extensions among those kernels dispatch on, in
// a fixed order.
func (in Info) KernelFlags() []string {
	var out []string
	for _, f := range kernelFlags {
		if in.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// Microarch names the core for the AMD families benchmarks have met; ""
// when it is not known from family and flags alone.
func (in Info) Microarch() string {
	if in.Vendor != "AuthenticAMD" {
		return ""
	}
	switch {
	case in.Family == 26:
		return "Zen 5"
	case in.Family == 25 && in.Has("avx512f"):
		return "Zen 4"
	case in.Family == 25:
		return "Zen 3"
	case in.Family == 23:
		return "Zen/Zen 2"
	}
	return ""
}

// String is the one line benchmarks print, e.g.
// "AMD EPYC (AuthenticAMD family 26 model 2, Zen 5; 2 CPUs; avx2 fma … avx512_vp2intersect)".
func (in Info) String() string {
	id := fmt.Sprintf("%s family %d model %d", in.Vendor, in.Family, in.Model)
	if m := in.Microarch(); m != "" {
		id += ", " + m
	}
	return fmt.Sprintf("%s (%s; %d CPUs; %s)", in.Name, id, in.CPUs, strings.Join(in.KernelFlags(), " "))
}

// Describe reads the processor and returns its one-line description, or
// GOARCH with the error when /proc/cpuinfo cannot be read.
func Describe() string {
	in, err := Read()
	if err != nil {
		return fmt.Sprintf("%s (%v)", runtime.GOARCH, err)
	}
	return in.String()
}
