package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

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
}

func newEventsCmd() *cobra.Command {
	var o eventsOptions
	cmd := &cobra.Command{
		Use:   "events [-n NS | -A] [--for KIND/NAME] [-w]",
		Short: "List events; -w follows new ones",
		Long: `List the events Skiff recorded: what happened to pods and nodes (created,
scheduled, running, failed, restarted, node ready or not…), oldest first.

Events are read through the API (GET /api/v1/events), which serves the
control plane's event stream as Kubernetes Events; a view token is enough.

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
	f.IntVar(&o.limit, "limit", 100, fmt.Sprintf("print at most this many past events, the newest (0: as many as the API gives, %d)", api.MaxEventsLimit))
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces)
	return cmd
}

// eventsQuery is what events and describe ask the API for: the namespace
// of the path and a field selector.
type eventsQuery struct {
	namespace     string
	fieldSelector string
}

// eventsOfObject asks for one object's events. Events of cluster-scoped
// objects (nodes) are in the namespace default, as in Kubernetes.
func eventsOfObject(info api.KindInfo, ns, name string) eventsQuery {
	if !info.Namespaced {
		return eventsQuery{namespace: api.DefaultNamespace, fieldSelector: client.EventsOf(info.Kind, "", name)}
	}
	return eventsQuery{namespace: ns, fieldSelector: client.EventsOf(info.Kind, ns, name)}
}

func runEvents(cmd *cobra.Command, o eventsOptions) error {
	if o.limit < 0 {
		return errors.New("--limit must be 0 (all) or more")
	}
	if o.limit > api.MaxEventsLimit {
		return fmt.Errorf("--limit must be at most %d (the API's bound)", api.MaxEventsLimit)
	}
	if o.since < 0 {
		return errors.New("--since must be a positive duration, like 10m")
	}
	if o.allNamespaces && o.forObject != "" {
		return errors.New("--for names one object: drop -A, and give its namespace with -n")
	}
	ns := namespaceOrDefault(o.namespace)
	// The namespace's own objects: not the nodes' events, which the API
	// keeps in default as Kubernetes does.
	q := eventsQuery{namespace: ns, fieldSelector: "involvedObject.namespace=" + ns}
	if o.allNamespaces {
		q = eventsQuery{}
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
		q = eventsOfObject(info, ns, name)
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	limit := o.limit
	if limit == 0 {
		limit = api.MaxEventsLimit
	}
	ctx := cmd.Context()
	past, rv, err := c.ListEvents(ctx, q.namespace, client.ListOptions{FieldSelector: q.fieldSelector, Limit: int64(limit)})
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	if o.since > 0 {
		past = eventsSince(past, time.Now().Add(-o.since))
	}
	p := &eventPrinter{w: cmd.OutOrStdout(), withNamespace: o.allNamespaces}
	if len(past) > 0 || o.watch {
		if err := p.initial(past, time.Now()); err != nil {
			return err
		}
	}
	if o.watch {
		return followEvents(ctx, c, q, rv, p)
	}
	if len(past) == 0 {
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

// eventsSince keeps the events that happened at or after from.
func eventsSince(evs []*api.Event, from time.Time) []*api.Event {
	out := evs[:0]
	for _, e := range evs {
		if !eventTime(e).Before(from) {
			out = append(out, e)
		}
	}
	return out
}

// followEvents prints each new event after rv until ctx ends.
func followEvents(ctx context.Context, c *client.Client, q eventsQuery, rv string, p *eventPrinter) error {
	ch, err := c.WatchEvents(ctx, q.namespace, client.WatchOptions{FieldSelector: q.fieldSelector, ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("watch events: %w", err)
	}
	for ev := range ch {
		switch ev.Type {
		case api.WatchError:
			return fmt.Errorf("watch events: %w", ev.Err)
		case api.WatchAdded:
			if e, ok := ev.Object.(*api.Event); ok {
				if err := p.row(e, time.Now()); err != nil {
					return err
				}
			}
		}
	}
	return ctx.Err()
}

// eventTime is when an event happened, to the microsecond when known.
func eventTime(e *api.Event) time.Time {
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.LastTimestamp
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

func (p *eventPrinter) cells(e *api.Event, now time.Time) []string {
	row := []string{age(eventTime(e), now), e.Type, e.Reason, eventObject(e.InvolvedObject), e.Message}
	if p.withNamespace {
		row = append([]string{orNone(e.InvolvedObject.Namespace)}, row...)
	}
	return row
}

func (p *eventPrinter) initial(past []*api.Event, now time.Time) error {
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

func (p *eventPrinter) row(e *api.Event, now time.Time) error { return p.print(p.cells(e, now)) }

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
func eventObject(ref api.ObjectReference) string {
	kind := strings.ToLower(ref.Kind)
	if info, ok := api.LookupKind(ref.Kind); ok {
		kind = info.Singular
	}
	return kind + "/" + ref.Name
}
