// Package bench holds the workloads of `skiff bench`: each starts what it
// needs in temp dirs, measures Skiff's path beside a baseline measured in
// the same run, and ends with one key=value summary line.
package bench

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Percentile returns the p-th percentile (0–100) of ds by nearest rank.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// Ms formats a duration in milliseconds with two decimals.
func Ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }

// Summary is an ordered key=value line.
type Summary struct{ keys, vals []string }

// Add appends a pair.
func (s *Summary) Add(k string, v any) {
	s.keys = append(s.keys, k)
	s.vals = append(s.vals, fmt.Sprint(v))
}

func (s *Summary) String() string {
	parts := make([]string, len(s.keys))
	for i := range s.keys {
		parts[i] = s.keys[i] + "=" + s.vals[i]
	}
	return strings.Join(parts, " ")
}

// RSSBytes reads a process's resident set size from /proc.
func RSSBytes(pid int) (int64, error) { return procStatus(pid, "VmRSS:") }

// AnonRSSBytes reads the anonymous part of a process's resident set (heap,
// stacks): the memory the process itself uses, without the pages of its
// executable, which the kernel shares and can drop.
func AnonRSSBytes(pid int) (int64, error) { return procStatus(pid, "RssAnon:") }

func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
