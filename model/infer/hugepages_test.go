package infer

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/distill-ml/distill/model/infer/infertest"
)

// TestHugePagesCopyIsAnonymousReadOnlyAndBitIdentical: with
// Options.HugePages the weights live in an anonymous, read-only mapping
// advised for transparent huge pages (VmFlags "hg" in /proc/self/smaps),
// not in the file's mapping, and every logit is bit-identical to the
// mmapped model's. NoMmap and HugePages together are refused. Linux only
// (/proc/self/smaps).
func TestHugePagesCopyIsAnonymousReadOnlyAndBitIdentical(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/smaps (Linux only)")
	}
	for _, typ := range []string{"F32", "Q8_0", "Q4_K_M"} {
		path := infertest.WriteTemp(t, "m.gguf", infertest.SmallSpec(typ, 64))
		mapped, err := Load(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer mapped.Close()
		huge, err := Load(path, Options{HugePages: true})
		if err != nil {
			t.Fatalf("%s: HugePages load: %v", typ, err)
		}
		defer huge.Close()
		region, err := smapsRegion(uintptr(unsafe.Pointer(&huge.data[0])))
		if err != nil {
			t.Fatal(err)
		}
		if region.inode != 0 || region.path != "" {
			t.Errorf("%s: HugePages weights are in a file mapping (inode %d %q), want anonymous memory", typ, region.inode, region.path)
		}
		if region.perms != "r--p" {
			t.Errorf("%s: HugePages weights mapped %s, want read-only r--p", typ, region.perms)
		}
		if !strings.Contains(" "+region.vmFlags+" ", " hg ") {
			t.Errorf("%s: HugePages weights' VmFlags %q lack hg (MADV_HUGEPAGE)", typ, region.vmFlags)
		}
		if region.end-region.start < uint64(len(huge.data)) {
			t.Errorf("%s: region %d bytes < %d bytes of weights", typ, region.end-region.start, len(huge.data))
		}
		tokens := []int32{1, 7, 42, 299, 3, 3, 150}
		a, b := mapped.NewSession(0), huge.NewSession(0)
		for i, tok := range tokens {
			la, err := a.Eval([]int32{tok})
			if err != nil {
				t.Fatal(err)
			}
			lb, err := b.Eval([]int32{tok})
			if err != nil {
				t.Fatal(err)
			}
			for j := range la {
				if math.Float32bits(la[j]) != math.Float32bits(lb[j]) {
					t.Fatalf("%s: token %d logit %d: mmapped %v, HugePages %v", typ, i, j, la[j], lb[j])
				}
			}
		}
		if m, err := Load(path, Options{HugePages: true, NoMmap: true}); err == nil {
			m.Close()
			t.Errorf("%s: NoMmap and HugePages together were accepted", typ)
		} else if !strings.Contains(err.Error(), "HugePages") {
			t.Errorf("%s: error %q does not name HugePages", typ, err)
		}
	}
}

// smapsMapping is one mapping of /proc/self/smaps.
type smapsMapping struct {
	start, end  uint64
	perms, path string
	inode       uint64
	vmFlags     string
}

// smapsRegion finds the mapping of /proc/self/smaps holding addr.
func smapsRegion(addr uintptr) (smapsMapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return smapsMapping{}, err
	}
	defer f.Close()
	var cur smapsMapping
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			if found {
				return cur, nil
			}
			lo, hi, _ := strings.Cut(fields[0], "-")
			s, err1 := strconv.ParseUint(lo, 16, 64)
			e, err2 := strconv.ParseUint(hi, 16, 64)
			ino, err3 := strconv.ParseUint(fields[4], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil {
				return smapsMapping{}, fmt.Errorf("/proc/self/smaps: bad mapping line %q", line)
			}
			cur = smapsMapping{start: s, end: e, perms: fields[1], inode: ino}
			if len(fields) > 5 {
				cur.path = strings.Join(fields[5:], " ")
			}
			found = uint64(addr) >= s && uint64(addr) < e
			continue
		}
		if found && strings.HasPrefix(line, "VmFlags:") {
			cur.vmFlags = strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	if err := sc.Err(); err != nil {
		return smapsMapping{}, err
	}
	if found {
		return cur, nil
	}
	return smapsMapping{}, fmt.Errorf("/proc/self/smaps: no mapping holds %#x", addr)
}
