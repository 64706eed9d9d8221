// Command sensor is the long-running example Wasm module of
// testbed/examples/sensor-deployment.yaml and sensor-daemonset.yaml: it
// reads a (simulated) sensor every INTERVAL and logs the reading with the
// node it runs on, until it is stopped. Build it with:
//
//	GOOS=wasip1 GOARCH=wasm go build -o testbed/examples/sensor.wasm ./testbed/examples/sensor
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	interval := 5 * time.Second
	if v := os.Getenv("INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fmt.Fprintf(os.Stderr, "INTERVAL=%q is not a positive duration like 5s\n", v)
			os.Exit(2)
		}
		interval = d
	}
	node := os.Getenv("NODE_NAME")
	if node == "" {
		node = "unknown"
	}
	fmt.Printf("sensor started on node %s, reading every %s\n", node, interval)
	for i := 1; ; i++ {
		// A reading that moves, without a real device: 20.0 °C ± 2.
		temp := 20.0 + float64(i%9-4)/2
		fmt.Printf("reading %d node=%s temperature=%.1fC\n", i, node, temp)
		time.Sleep(interval)
	}
}
