package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newPushCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "push FILE...",
		Short: "Upload Wasm modules to the control plane and print their references (skiff://artifacts/sha256:…)",
		Long: `Uploads each Wasm module to the control plane's artifact store, addressed by its
digest, and prints the reference to use as a container's image in any workload
(Pod, Deployment, ReplicaSet, DaemonSet, Job, CronJob). Agents fetch it over NATS;
no registry is needed. 'skiff apply' does the same for every image: ./file.wasm
it finds in a manifest.`,
		Example: `  skiff push ./sensor.wasm
  skiff apply -f fleet.yaml        # image: ./sensor.wasm is pushed and rewritten the same way`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			for _, path := range args {
				ref, err := pushModule(cmd.Context(), c, path)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", path, ref)
			}
			return nil
		},
	}
}
