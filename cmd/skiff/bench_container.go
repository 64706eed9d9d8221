package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/testbed/bench"
)

func newBenchContainerStartupCmd() *cobra.Command {
	o := bench.ContainerStartupOptions{Socket: config.DefaultContainerdSocket}
	cmd := &cobra.Command{
		Use:   "container-startup",
		Short: "Apply→Running latency of container pods (image present) beside a bare `ctr run --rm`",
		Long: `Uses the host's containerd when its socket answers (in a namespace of its own,
skiff-bench, removed afterwards), otherwise starts a private containerd in a temp
dir (needs the containerd and runc binaries, and root). Imports the image: by
default the probe test program built for this machine, which needs the Go
toolchain and a checkout of Skiff (run it from the repository); or an OCI
archive given with --image-archive and --image.

The baseline runs first: --pods runs of 'ctr run --rm' of the same image with the
same command line and the host network, against the same daemon, namespace and
snapshotter, each timed from exec until ctr exits (container and task created,
started, exited, deleted). Without ctr in PATH, the same steps go through the
containerd Go client, and the summary says baseline=client.

Then an in-process cluster (embedded NATS with fsync, control plane, API, one
agent using that containerd) runs one warm-up pod and --pods pods one after
another, each timed from the create request until the API shows it Running (or
Succeeded, for a program that already exited), then deleted before the next.
Ends with one key=value summary line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.ImageArchive != "" {
				if _, err := os.Stat(o.ImageArchive); err != nil {
					return fmt.Errorf("--image-archive: %w", err)
				}
			}
			o.Out = cmd.OutOrStdout()
			sum, err := bench.ContainerStartup(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), sum.String())
			return nil
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&o.Pods, "pods", 50, "how many pods (and baseline runs) to time")
	fs.StringVar(&o.Socket, "containerd-socket", o.Socket, "the host's containerd socket, used when it answers")
	fs.StringVar(&o.ImageArchive, "image-archive", "", "OCI image archive to import and run (default: the probe, built here)")
	fs.StringVar(&o.Image, "image", "", "image reference to run from --image-archive")
	fs.StringSliceVar(&o.Args, "args", nil, "container args, after the image's entrypoint; the program must exit by itself (default for the probe: hello)")
	fs.StringVar(&o.Baseline, "baseline", "", "ctr or client (default: ctr when installed)")
	return cmd
}

func newBenchWasmDensityCmd() *cobra.Command {
	var o bench.WasmDensityOptions
	var limitMB int64
	var inProcess bool
	cmd := &cobra.Command{
		Use:   "wasm-density",
		Short: "How many Wasm pods of a small long-running module one agent holds within 1 GB of RSS",
		Long: `Runs the control plane as a 'skiff server' process of its own (or, with
--in-process-server, in this process, where its memory counts against the agent's)
and one agent with the real Wasm driver in this process. The module is a tiny
WASI program assembled in Go that sleeps forever (poll_oneoff, one hour at a
time): no Go toolchain is needed. Pods are bound to the agent's node in their
spec and created in batches of --batch; after each batch the benchmark waits
until the API shows every pod Running and reads this process's VmRSS. It stops
when the RSS has grown by --limit-mb since before the agent started, or when
--max pods run. Reports the pods running, the agent's RSS, the RSS per pod
beyond the idle agent, and the agent's idle RSS. Ends with one key=value summary line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			o.LimitBytes = limitMB << 20
			if !inProcess {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				o.ServerBinary = exe
			}
			sum, err := bench.WasmDensity(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), sum.String())
			return nil
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&o.Max, "max", 2000, "stop after this many pods")
	fs.Int64Var(&limitMB, "limit-mb", 1024, "stop when the agent's RSS has grown by this many MiB")
	fs.IntVar(&o.Batch, "batch", 100, "pods created between two RSS readings")
	fs.BoolVar(&inProcess, "in-process-server", false, "run the control plane in this process (its memory then counts)")
	return cmd
}
