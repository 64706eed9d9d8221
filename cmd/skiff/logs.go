package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/api"
)

type logsOptions struct {
	namespace  string
	container  string
	tail       int64
	limitBytes int64
}

func newLogsCmd() *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs POD",
		Short: "Print a pod's container log",
		Long: `Print the log (stdout and stderr) of a pod's container, read from the node
that runs it. With one container, -c may be left out.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd, args[0], o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	cmd.Flags().StringVarP(&o.container, "container", "c", "", "container name (needed when the pod has several)")
	cmd.Flags().Int64Var(&o.tail, "tail", -1, "print only the last N lines (-1: all)")
	cmd.Flags().Int64Var(&o.limitBytes, "limit-bytes", 0, "print at most this many bytes (0: no limit)")
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
	req := api.LogRequest{Container: o.container, LimitBytes: o.limitBytes}
	if o.tail >= 0 {
		req.TailLines = &o.tail
	}
	b, err := c.PodLogs(cmd.Context(), namespaceOrDefault(o.namespace), pod, req)
	if err != nil {
		return err
	}
	_, err = cmd.OutOrStdout().Write(b)
	return err
}
