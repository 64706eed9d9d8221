package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/web/client"
)

type eventsOptions struct {
	namespace     string
	allNamespaces bool
	watch         bool
	forObject     string
	since         time.Duration
	limit         int
	nats          string
}

func newEventsCmd() *cobra.Command {
	var o eventsOptions
	cmd := &cobra.Command{
		Use:   "events [-n NS | -A] [--for KIND/NAME] [-w]",
		Short: "List events (from the SKIFF_EVENTS stream); -w follows new ones",
		Long: `List the events Skiff recorded: what happened to pods and nodes (created,
scheduled, running, failed, restarted, node ready or not…), oldest first.

Events are read from the JetStream stream SKIFF_EVENTS of the cluster's NATS
server, whose URL "skiff up" writes to the client config file (or --nats).

  skiff events                          the last events of the default namespace
  skiff events -A -w                    every namespace, then new events as they happen
  skiff events --for pod/web-1          one object's events
  skiff events --for node/edge-1        a node's events (nodes have no namespace)
  skiff events --since 10m              what happened in the last ten minutes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEvents(cmd, o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	f := cmd.Flags()
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "events of every namespace and of nodes")
	f.BoolVarP(&o.watch, "watch", "w", false, "after the past events, print new ones as they happen until interrupted")
	f.StringVar(&o.forObject, "for", "", "only the events of one object, as KIND/NAME (pod/web-1, node/edge-1)")
	f.DurationVar(&o.since, "since", 0, "only events newer than this, like 10m or 2h (0: all the stream keeps)")
	f.IntVar(&o.limit, "limit", 100, "print at most this many past events, the newest (0: all)")
	addNATSFlag(cmd, &o.nats)
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces)
	return cmd
}

func runEvents(cmd *cobra.Command, o eventsOptions) error {
	if o.limit < 0 {
		return errors.New("--limit must be 0 (all) or more")
	}
	if o.since < 0 {
		return errors.New("--since must be a positive duration, like 10m")
	}
	if o.allNamespaces && o.forObject != "" {
		return errors.New("--for names one object: drop -A, and give its namespace with -n")
	}
	ns := namespaceOrDefault(o.namespace)
	filter := api.EventSubject(api.KindInfo{Singular: "*"}, ns, "*") // skiff.events.*.<ns>.*
	if o.allNamespaces {
		filter = api.EventsSubjects
	}
	if o.forObject != "" {
		kind, name, ok := strings.Cut(o.forObject, "/")
		if !ok || name == "" {
			return fmt.Errorf("--for %q: name the object as KIND/NAME, like pod/web-1", o.forObject)
		}
		info, err := lookupKind(kind, allKinds()...)
		if err != nil {
			return fmt.Errorf("--for: %w", err)
		}
		objNS := ns
		if !info.Namespaced {
			objNS = ""
		}
		filter = api.EventSubject(info, objNS, name)
	}
	ev, err := connectEvents(o.nats)
	if err != nil {
		return err
	}
	defer ev.Close()

	out := cmd.OutOrStdout()
	withNamespace := o.allNamespaces
	p := &eventPrinter{w: out, withNamespace: withNamespace}
	shown := false
	err = ev.read(cmd.Context(), eventQuery{filter: filter, limit: o.limit, since: o.since, follow: o.watch},
		func(past []api.CloudEvent) error {
			if len(past) == 0 && !o.watch {
				return nil
			}
			shown = true
			return p.initial(past, time.Now())
		},
		func(e api.CloudEvent) error { return p.row(e, time.Now()) })
	if err != nil {
		return err
	}
	if !shown {
		switch {
		case o.forObject != "":
			fmt.Fprintf(cmd.ErrOrStderr(), "No events found for %s.\n", o.forObject)
		case o.allNamespaces:
			fmt.Fprintln(cmd.ErrOrStderr(), "No events found.")
		default:
			fmt.Fprintf(cmd.ErrOrStderr(), "No events found in %s namespace.\n", ns)
		}
	}
	return nil
}

// eventPrinter prints events as a table whose columns keep the widths of
// the first rows, so that rows printed later line up.
type eventPrinter struct {
	w             io.Writer
	withNamespace bool
	widths        []int
}

func (p *eventPrinter) header() []string {
	h := []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
	if p.withNamespace {
		h = append([]string{"NAMESPACE"}, h...)
	}
	return h
}

func (p *eventPrinter) cells(e api.CloudEvent, now time.Time) []string {
	d := e.Data
	row := []string{age(e.Time, now), eventSeverity(d.Reason), d.Reason, eventObject(d), d.Message}
	if p.withNamespace {
		row = append([]string{orNone(d.Namespace)}, row...)
	}
	return row
}

func (p *eventPrinter) initial(past []api.CloudEvent, now time.Time) error {
	rows := [][]string{p.header()}
	for _, e := range past {
		rows = append(rows, p.cells(e, now))
	}
	p.widths = make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			p.widths[i] = max(p.widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		if err := p.print(r); err != nil {
			return err
		}
	}
	return nil
}

func (p *eventPrinter) row(e api.CloudEvent, now time.Time) error { return p.print(p.cells(e, now)) }

func (p *eventPrinter) print(cells []string) error {
	var b strings.Builder
	for i, c := range cells {
		b.WriteString(c)
		if i < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", max(p.widths[i]-utf8.RuneCountInString(c), 0)+tablePadding))
		}
	}
	b.WriteByte('\n')
	_, err := io.WriteString(p.w, b.String())
	return err
}

// eventObject is the OBJECT column: kind/name, kind in lowercase.
func eventObject(d *api.EventData) string {
	kind := strings.ToLower(d.Kind)
	if info, ok := api.LookupKind(d.Kind); ok {
		kind = info.Singular
	}
	return kind + "/" + d.Name
}

// eventSeverity is Kubernetes' event type for a reason: Warning for what
// went wrong (failures, back-offs, a node not ready), Normal otherwise.
func eventSeverity(reason string) string {
	switch reason {
	case "Failed", "Restarted", "OOMKilled", "Error", "Evicted", "Killing", "ProgressDeadlineExceeded", "DeadlineExceeded":
		return "Warning"
	}
	for _, w := range []string{"Fail", "Err", "BackOff", "NotReady", "CannotRun", "Unhealthy"} {
		if strings.Contains(reason, w) {
			return "Warning"
		}
	}
	return "Normal"
}

// The NATS connection of describe and events.

const natsFlag = "nats"

// natsConnectTimeout bounds connecting to NATS, so that a missing server
// costs describe a moment, not a hang.
const natsConnectTimeout = 3 * time.Second

// addNATSFlag adds --nats, where the events stream is read.
func addNATSFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, natsFlag, "", "NATS URL of the cluster, for its events (default: the nats URL in the client config file, written by skiff up)")
}

// resolveNATS is the --nats flag, or the client config file's nats URL.
func resolveNATS(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	path := client.DefaultConfigPath()
	c, err := client.LoadConfig(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("no NATS URL to read events from: there is no client config at %s (skiff up writes one); pass --nats nats://HOST:4222", path)
	case err != nil:
		return "", err
	case c.NATS == "":
		return "", fmt.Errorf("no NATS URL to read events from: the client config %s has none; pass --nats nats://HOST:4222", path)
	}
	return c.NATS, nil
}

// eventStream reads Skiff's events from the SKIFF_EVENTS stream.
type eventStream struct {
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
}

// connectEvents connects to the NATS server of --nats or the client
// config. Its errors are one line saying what to do.
func connectEvents(flagValue string) (*eventStream, error) {
	url, err := resolveNATS(flagValue)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, nats.Name("skiff-cli/"+version), nats.Timeout(natsConnectTimeout))
	if err != nil {
		return nil, fmt.Errorf("cannot reach NATS at %s to read events (%s); start Skiff with \"skiff up\" or pass --nats", url, shortNATSError(err))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream at %s: %w", url, err)
	}
	return &eventStream{url: url, nc: nc, js: js}, nil
}

// Close closes the NATS connection.
func (s *eventStream) Close() { s.nc.Close() }

func shortNATSError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "nats: ")
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "dial tcp") {
		msg = msg[i+2:]
	}
	return msg
}

// eventQuery says which events to read.
type eventQuery struct {
	filter string        // subject filter under skiff.events.>
	limit  int           // the newest this many past events; 0: all
	since  time.Duration // only events newer than this; 0: all
	follow bool          // then every new event until ctx ends
}

// read passes the past events matching q (oldest first, at most q.limit)
// to past, then, with q.follow, each new event to live until ctx ends. A
// missing stream means no events yet.
func (s *eventStream) read(ctx context.Context, q eventQuery, past func([]api.CloudEvent) error, live func(api.CloudEvent) error) error {
	stream, err := s.js.Stream(ctx, api.EventsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if q.follow {
			return fmt.Errorf("NATS at %s has no %s stream: is the Skiff control plane running against it?", s.url, api.EventsStream)
		}
		return past(nil)
	}
	if err != nil {
		return fmt.Errorf("read stream %s at %s: %w", api.EventsStream, s.url, err)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{q.filter}, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case q.since > 0:
		start := time.Now().Add(-q.since)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	case q.filter == api.EventsSubjects && q.limit > 0:
		// Every message matches: start limit messages from the end
		// rather than reading the whole stream.
		info := stream.CachedInfo()
		if info.State.LastSeq >= uint64(q.limit) {
			cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
			cfg.OptStartSeq = max(info.State.LastSeq-uint64(q.limit)+1, info.State.FirstSeq)
		}
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read stream %s at %s: %w", api.EventsStream, s.url, err)
	}
	pending := uint64(0)
	if info := cons.CachedInfo(); info != nil {
		pending = info.NumPending
	}
	if pending == 0 && !q.follow {
		return past(nil)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("read stream %s at %s: %w", api.EventsStream, s.url, err)
	}
	defer it.Stop()
	var history []api.CloudEvent
	for pending > 0 {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return s.endOfRead(ctx, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read stream %s: %w", api.EventsStream, err)
		}
		pending = md.NumPending
		e, ok := decodeEvent(msg.Data())
		if !ok {
			continue
		}
		history = append(history, e)
		if q.limit > 0 && len(history) > q.limit {
			history = history[1:]
		}
	}
	if err := past(history); err != nil || !q.follow {
		return err
	}
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return s.endOfRead(ctx, err)
		}
		if e, ok := decodeEvent(msg.Data()); ok {
			if err := live(e); err != nil {
				return err
			}
		}
	}
}

func (s *eventStream) endOfRead(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("read stream %s at %s: %w", api.EventsStream, s.url, err)
}

// decodeEvent reads one CloudEvent; anything else on the stream is skipped.
func decodeEvent(b []byte) (api.CloudEvent, bool) {
	var e api.CloudEvent
	if err := json.Unmarshal(b, &e); err != nil || e.Data == nil {
		return api.CloudEvent{}, false
	}
	return e, true
}
