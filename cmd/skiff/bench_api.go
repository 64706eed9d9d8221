package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/testbed/bench"
)

func newBenchAPICmd() *cobra.Command {
	var o bench.APIOptions
	cmd := &cobra.Command{
		Use:   "api",
		Short: "REST API latency (get, list, create) under concurrent clients beside the raw store, and watch fan-out",
		Long: `Starts an in-process cluster (embedded NATS with fsync, control plane, REST API with
authentication, no agents) in a temp dir and stores --small and --large pods in two
namespaces through the store. Then, with --clients clients at once, times API get, list
of each namespace and create, each beside the store operation it stands on, timed the
same way in the same run (Store.GetObject, ListObjects, CreateObject): the ratio is the
API's overhead (HTTP, token check, JSON both ways, validation, admission).

Watch fan-out: --watchers watches of one namespace through the Go client, then --writes
pods created there one after another; each is timed from the create request until the
last watcher received it.

Ends with one key=value summary line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			sum, err := bench.API(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), sum.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Clients, "clients", 50, "clients sending requests at once")
	f.IntVar(&o.Gets, "gets", 2000, "gets to time")
	f.IntVar(&o.Creates, "creates", 2000, "creates to time")
	f.IntVar(&o.Lists, "lists", 500, "lists of the small namespace to time (a tenth as many, at least --clients, of the large one)")
	f.IntVar(&o.SmallList, "small", 1000, "pods in the small namespace")
	f.IntVar(&o.LargeList, "large", 10000, "pods in the large namespace")
	f.IntVar(&o.Watchers, "watchers", 100, "watches open during the fan-out")
	f.IntVar(&o.Writes, "writes", 200, "writes timed during the fan-out")
	return cmd
}
