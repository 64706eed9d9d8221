// Command hello is the example Wasm module of testbed/examples/hello-wasm.yaml.
// Build it with:
//
//	GOOS=wasip1 GOARCH=wasm go build -o testbed/examples/hello.wasm ./testbed/examples/hello
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

func main() {
	who := os.Getenv("GREETING_TARGET")
	if who == "" {
		who = "edge"
	}
	fmt.Printf("hello, %s, from a Wasm module (%s/%s)\n", who, runtime.GOOS, runtime.GOARCH)
	if len(os.Args) > 1 {
		fmt.Printf("args: %s\n", strings.Join(os.Args[1:], " "))
	}
}
