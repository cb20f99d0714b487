package rtbench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/distill-ml/distill/internal/cpuinfo"
	"github.com/distill-ml/distill/internal/sysmem"
)

// LoadAverage is /proc/loadavg's 1, 5 and 15 minute load averages (what
// `uptime` prints).
func LoadAverage() ([3]float64, error) {
	var la [3]float64
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return la, err
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return la, fmt.Errorf("/proc/loadavg: %q", data)
	}
	for i := range la {
		if la[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return la, fmt.Errorf("/proc/loadavg: %w", err)
		}
	}
	return la, nil
}

// FormatLoad prints a load average as uptime does.
func FormatLoad(la [3]float64) string {
	return fmt.Sprintf("load average: %.2f, %.2f, %.2f", la[0], la[1], la[2])
}

// OtherLoad measures how many CPU cores other processes kept busy over an
// interval: the machine's busy time (/proc/stat) minus this process's and its
// waited-for children's CPU time. Unlike the load average, it does not count
// the benchmark itself.
type OtherLoad struct {
	start     time.Time
	busy, all uint64
	own       float64
	ok        bool
}

// StartOtherLoad begins an interval.
func StartOtherLoad() *OtherLoad {
	o := &OtherLoad{start: time.Now(), own: (sysmem.CPUTime() + sysmem.ChildrenCPUTime()).Seconds()}
	o.busy, o.all, o.ok = procStat()
	return o
}

// Cores is the mean number of cores other processes used since StartOtherLoad
// (negative when unknown).
func (o *OtherLoad) Cores() float64 {
	busy, all, ok := procStat()
	wall := time.Since(o.start).Seconds()
	if !ok || !o.ok || all <= o.all || wall <= 0 {
		return -1
	}
	busyCoreSeconds := float64(busy-o.busy) / float64(all-o.all) * float64(runtime.NumCPU()) * wall
	own := (sysmem.CPUTime() + sysmem.ChildrenCPUTime()).Seconds() - o.own
	return max(0, (busyCoreSeconds-own)/wall)
}

// procStat reads the aggregate "cpu" line of /proc/stat: busy and total jiffies.
func procStat() (busy, all uint64, ok bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, false
	}
	// user nice system idle iowait irq softirq steal (guest time is inside user)
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		all += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, all, true
}

// Uptime is `uptime`'s output, or the load average from /proc/loadavg when
// uptime cannot run.
func Uptime() string {
	if out, err := exec.Command("uptime").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	la, err := LoadAverage()
	if err != nil {
		return "load average unknown: " + err.Error()
	}
	return FormatLoad(la)
}

// CPUModel is the one-line CPU description (cpuinfo.Describe): model name,
// vendor, family, model and the extensions kernels dispatch on.
func CPUModel() string { return cpuinfo.Describe() }
