package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/testbed/bench"
)

func newBenchFleetCmd() *cobra.Command {
	var agents, replicas int
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Control plane at fleet scale: a DaemonSet and a Deployment over hollow agents",
		Long: `Starts 'skiff server' as its own process (embedded NATS with fsync) and --agents hollow
agents in this process (real agent code and NATS connections, no-op runtime), then creates a
DaemonSet (one pod per agent) and a Deployment of --replicas pods, and times until the API lists
every pod Running. Reports the scheduler's bind rate beside raw KV compare-and-swap writes per
second on the same server, KV writes per pod, and the control plane's CPU seconds and peak RSS.
All of it runs twice, each on a fresh server: with TLS and NATS authentication (agents join
with a join token), then with both off (config insecure); the *_insecure keys and the
*_ratio_secure_over_insecure ratios are the cost of security.
Ends with one key=value summary line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if agents < 1 || replicas < 0 {
				return fmt.Errorf("--agents must be at least 1 and --replicas 0 or more")
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			sum, err := bench.Fleet(cmd.Context(), bench.FleetOptions{Agents: agents, Replicas: replicas, Binary: exe, Out: cmd.OutOrStdout()})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), sum.String())
			return nil
		},
	}
	cmd.Flags().IntVar(&agents, "agents", 1000, "hollow agents")
	cmd.Flags().IntVar(&replicas, "replicas", 10000, "Deployment replicas")
	return cmd
}
