package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/api"
)

type logsOptions struct {
	namespace  string
	container  string
	tail       int64
	limitBytes int64
	follow     bool
	previous   bool
}

func newLogsCmd() *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs POD [-c CONTAINER] [--tail N] [-f] [--previous]",
		Short: "Print a pod's container log",
		Long: `Print the log (stdout and stderr) of a pod's container, read from the node
that runs it. With one container, -c may be left out. --previous prints the
log of the run before the container's last restart; -f goes on printing
what the container writes until it terminates or you interrupt.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd, args[0], o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	cmd.Flags().StringVarP(&o.container, "container", "c", "", "container name (needed when the pod has several)")
	cmd.Flags().Int64Var(&o.tail, "tail", -1, "print only the last N lines (-1: all)")
	cmd.Flags().Int64Var(&o.limitBytes, "limit-bytes", 0, "print at most this many bytes (0: no limit)")
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "stream the log as it grows")
	cmd.Flags().BoolVarP(&o.previous, "previous", "p", false, "print the log of the run before the last restart")
	return cmd
}

func runLogs(cmd *cobra.Command, pod string, o logsOptions) error {
	if o.tail < -1 {
		return errors.New("--tail must be -1 (all lines) or more")
	}
	if o.limitBytes < 0 {
		return errors.New("--limit-bytes must be 0 (no limit) or more")
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	req := api.LogRequest{Container: o.container, LimitBytes: o.limitBytes, Previous: o.previous}
	if o.tail >= 0 {
		req.TailLines = &o.tail
	}
	if o.follow && !o.previous {
		ctx := cmd.Context()
		rc, err := c.FollowLogs(ctx, namespaceOrDefault(o.namespace), pod, req)
		if err != nil {
			return err
		}
		defer rc.Close()
		if _, err := io.Copy(cmd.OutOrStdout(), rc); err != nil && ctx.Err() == nil {
			return fmt.Errorf("follow the log of %s: %w", pod, err)
		}
		return nil
	}
	b, err := c.PodLogs(cmd.Context(), namespaceOrDefault(o.namespace), pod, req)
	if err != nil {
		return err
	}
	_, err = cmd.OutOrStdout().Write(b)
	return err
}
