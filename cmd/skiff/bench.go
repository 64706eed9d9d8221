package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/testbed/bench"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Skiff on this machine; each benchmark starts what it needs in temp dirs",
	}
	cmd.AddCommand(newBenchWasmStartupCmd(), newBenchFleetCmd(), newBenchContainerStartupCmd(), newBenchWasmDensityCmd(), newBenchAPICmd(), newBenchJoinCmd())
	return cmd
}

func newBenchWasmStartupCmd() *cobra.Command {
	var pods int
	var module string
	var noRSS bool
	cmd := &cobra.Command{
		Use:   "wasm-startup",
		Short: "Apply→Running latency of Wasm pods (module already compiled) beside bare wazero, secure and insecure",
		Long: `Starts an in-process cluster (embedded NATS with fsync, control plane, API, one agent)
in a temp dir, uploads the module, runs one warm-up pod (fetch + compile), then applies
--pods pods one after another, each timed from the create request until the API shows it
started. The baseline is a bare wazero instantiate+run of the same compiled module.
A second cluster with TLS and NATS authentication off (config insecure) runs beside it and
the pods are applied to both alternately: the *_insecure keys and the
*_ratio_secure_over_insecure ratios are the cost of security.
Also reports the cold compile time and the idle RSS of 'skiff up' and of an agent alone.
Ends with one key=value summary line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := bench.WasmStartupOptions{Pods: pods, Out: cmd.OutOrStdout()}
			if module != "" {
				b, err := os.ReadFile(module)
				if err != nil {
					return fmt.Errorf("--module: %w", err)
				}
				if !api.IsWasmBinary(b) {
					return fmt.Errorf("--module %s is not a Wasm module (no \\0asm header)", module)
				}
				o.Module = b
			}
			if !noRSS {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				o.Binary = exe
			}
			sum, err := bench.WasmStartup(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), sum.String())
			return nil
		},
	}
	cmd.Flags().IntVar(&pods, "pods", 200, "how many pods to time")
	cmd.Flags().StringVar(&module, "module", "", "Wasm module to run (default: a tiny built-in WASI hello module)")
	cmd.Flags().BoolVar(&noRSS, "no-rss", false, "skip the idle RSS measurement of separate skiff processes")
	return cmd
}
