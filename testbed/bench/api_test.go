package bench

import (
	"strings"
	"testing"
)

func TestAPIBenchmarkMeasuresEveryOperationAndTheFanOut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	sum, err := API(t.Context(), APIOptions{Clients: 4, Gets: 20, Creates: 20, Lists: 8, SmallList: 10, LargeList: 40, Watchers: 3, Writes: 5})
	if err != nil {
		t.Fatal(err)
	}
	line := sum.String()
	for _, key := range []string{"clients=4 ", "get_p50_ms=", "get_store_p50_ms=", "get_ratio_p50=", "list10_p99_ms=", "list40_store_p99_ms=",
		"create_ratio_p99=", "watchers=3 ", "writes=5 ", "fanout_p50_ms=", "fanout_p99_ms="} {
		if !strings.Contains(line, key) {
			t.Errorf("summary lacks %s: %s", key, line)
		}
	}
	if strings.Contains(line, "_failed=") {
		t.Errorf("requests failed: %s", line)
	}
}
