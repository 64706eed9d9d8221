package client

import (
	"context"
	"fmt"

	"github.com/skiff-sh/skiff/api"
)

// ListEvents lists the newest events (at most opts.Limit; the server's
// api.DefaultEventsLimit when 0) in namespace ("" for all), oldest first,
// narrowed by opts' selectors (fieldSelector involvedObject.kind, .name,
// .namespace, .uid, reason, type, …). The resourceVersion is where
// WatchEvents continues without missing or repeating one. Events are read
// by the API server from the control plane's events stream: the caller
// needs an API token (view is enough), not NATS.
func (c *Client) ListEvents(ctx context.Context, namespace string, opts ListOptions) ([]*api.Event, string, error) {
	l, err := c.ListObjects(ctx, api.EventKind(), namespace, opts)
	if err != nil {
		return nil, "", err
	}
	out := make([]*api.Event, 0, len(l.Items))
	for _, o := range l.Items {
		e, ok := o.(*api.Event)
		if !ok {
			return nil, "", fmt.Errorf("decode event list: got a %T", o)
		}
		out = append(out, e)
	}
	return out, l.ResourceVersion, nil
}

// WatchEvents streams new events in namespace ("" for all) as Added
// events whose Object is an *api.Event, from opts.ResourceVersion (usually
// ListEvents'), reconnecting as Watch does.
func (c *Client) WatchEvents(ctx context.Context, namespace string, opts WatchOptions) (<-chan WatchEvent, error) {
	return c.Watch(ctx, api.EventKind(), namespace, opts)
}

// EventsOf is the field selector of one object's events, as kubectl
// describe asks for them: involvedObject kind, namespace and name.
func EventsOf(kind, namespace, name string) string {
	return "involvedObject.kind=" + kind + ",involvedObject.namespace=" + namespace + ",involvedObject.name=" + name
}
