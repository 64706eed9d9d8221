package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newPushCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "push FILE...",
		Short: "Upload Wasm modules (or OCI archives of Wasm artifacts) and print their references (skiff://artifacts/sha256:…)",
		Long: `Uploads each Wasm module to the control plane's artifact store, addressed by its
digest, and prints the reference to use as a container's image in any workload
(Pod, Deployment, ReplicaSet, DaemonSet, Job, CronJob). Agents fetch it over NATS;
no registry is needed. 'skiff apply' does the same for every image: ./file.wasm
it finds in a manifest.

FILE is a Wasm module, or an OCI archive (an OCI image layout as a tar, gzipped
or not) of a Wasm artifact: its one layer of media type
application/vnd.wasm.content.layer.v1+wasm (or application/wasm) is pushed, every
digest checked. Container images are not pushed yet (skiff image import on the
device).`,
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
