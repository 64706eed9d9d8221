package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/testbed/bench"
)

func newBenchJoinCmd() *cobra.Command {
	var o bench.JoinOptions
	cmd := &cobra.Command{
		Use:   "join",
		Short: "Time of an agent's join (pinned TLS, join request, JWT) beside a connect with an existing identity",
		Long: `Starts an in-process server (embedded NATS with fsync, control plane, API, no agents) in a
temp dir, makes a join token, and joins --joins nodes one after another, each under a new
name, as an agent does on its first start: the TLS handshake pinned to the token's CA, the
join request, the control plane's checks and record of the node, and the node's JWT.
Each join is timed beside, interleaved with it, the baseline: a connect of a node that
already joined, with its identity (TLS against the CA, JWT, nonce signature); and a plain
TCP connect without credentials to a second server with TLS and authentication off
(config insecure), for the cost of security of a connect.
Ends with one key=value summary line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Joins < 1 {
				return fmt.Errorf("--joins must be at least 1")
			}
			o.Out = cmd.OutOrStdout()
			sum, err := bench.Join(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), sum.String())
			return nil
		},
	}
	cmd.Flags().IntVar(&o.Joins, "joins", 50, "nodes to join, each under a new name")
	return cmd
}
