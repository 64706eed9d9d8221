package main

import (
	"github.com/spf13/cobra"
)

// newRootCmd builds the command tree. Each subcommand lives in its own file
// as a newXxxCmd function and is added here.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "Skiff: a Wasm-and-container orchestrator for the edge",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addClientFlags(root)
	root.AddCommand(
		newVersionCmd(),
		newApplyCmd(),
		newGetCmd(),
		newLogsCmd(),
		newDeleteCmd(),
		newUpCmd(),
		newServerCmd(),
		newAgentCmd(),
		newBenchCmd(),
		newImageCmd(),
		newDescribeCmd(),
		newRolloutCmd(),
		newScaleCmd(),
		newEventsCmd(),
		newTopCmd(),
		newCompletionCmd(),
		newTokenCmd(),
		newNodeCmd(),
		newKubeconfigCmd(),
		newNATSCmd(),
		newSecretsEncryptionCmd(),
		newPushCmd(),
	)
	return root
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.Println("skiff", version)
			return nil
		},
	}
}
