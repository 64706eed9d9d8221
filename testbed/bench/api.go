package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/web/client"
)

// APIOptions shape `skiff bench api`.
type APIOptions struct {
	// Clients is how many clients send requests at once (default 50).
	Clients int
	// Gets and Creates are how many of each are timed (default 2000).
	Gets, Creates int
	// Lists is how many lists of SmallList pods are timed (default 500);
	// a tenth as many (at least Clients) of LargeList pods.
	Lists int
	// SmallList and LargeList are the sizes of the two lists (default
	// 1,000 and 10,000 pods).
	SmallList, LargeList int
	// Watchers watch one namespace while Writes pods are created in it,
	// one at a time (defaults 100 and 200).
	Watchers, Writes int
	// Out receives progress and the table of results.
	Out io.Writer
}

func (o *APIOptions) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Clients, 50)
	def(&o.Gets, 2000)
	def(&o.Creates, 2000)
	def(&o.Lists, 500)
	def(&o.SmallList, 1000)
	def(&o.LargeList, 10000)
	def(&o.Watchers, 100)
	def(&o.Writes, 200)
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// Namespaces of the API benchmark.
const (
	benchSmallNS = "bench-small"
	benchLargeNS = "bench-large"
	benchAPINS   = "bench-api"
	benchStoreNS = "bench-store"
	benchWatchNS = "bench-watch"
	// benchNode is the node the benchmark's pods are bound to. No such node
	// exists: the scheduler leaves bound pods alone, nothing runs them, and
	// nothing evicts them.
	benchNode = "bench-absent"
)

// API measures the REST API in an in-process cluster (embedded NATS with
// fsync, control plane, API with authentication, no agents), with
// o.Clients clients at once: get, list of SmallList and LargeList pods and
// create, each beside the store operation it stands on, timed the same
// way in the same run (Store.GetObject, ListObjects, CreateObject), so
// that the ratio is the API's overhead (HTTP, auth, JSON both ways,
// validation, admission). Then watch fan-out: o.Watchers watches of one
// namespace and o.Writes pods created in it one after another, each timed
// from the create request until the last watcher has the event.
func API(ctx context.Context, o APIOptions) (*Summary, error) {
	o.defaults()
	dir, err := testbed.TempDir("skiff-bench-api-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: filepath.Join(dir, "cluster")})
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Stop(context.Background()) }()
	st := c.Server.Store
	// One connection per client, kept alive, as 50 separate users would.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Clients + o.Watchers, MaxIdleConns: 2 * (o.Clients + o.Watchers),
		TLSClientConfig: &tls.Config{RootCAs: c.Server.CA.Pool(), MinVersion: tls.VersionTLS12}}}
	cl := client.New(c.Server.API.URL(), client.WithToken(c.Token), client.WithHTTPClient(hc))
	for _, ns := range []string{benchSmallNS, benchLargeNS, benchAPINS, benchStoreNS, benchWatchNS} {
		if _, err := cl.CreateObject(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
			return nil, fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	start := time.Now()
	if err := fill(ctx, st, benchSmallNS, o.SmallList); err != nil {
		return nil, err
	}
	if err := fill(ctx, st, benchLargeNS, o.LargeList); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "stored %d + %d pods in %s\n", o.SmallList, o.LargeList, time.Since(start).Round(time.Millisecond))

	sum := &Summary{}
	sum.Add("clients", o.Clients)
	podInfo := api.KindOf(&api.Pod{})
	type pair struct {
		name         string
		n            int
		apiOp, rawOp func(ctx context.Context, i int) error
	}
	randomPod := func() string { return fmt.Sprintf("pod-%05d", rand.IntN(o.SmallList)) }
	pairs := []*pair{
		{name: "get", n: o.Gets,
			apiOp: func(ctx context.Context, _ int) error {
				_, err := cl.GetPod(ctx, benchSmallNS, randomPod())
				return err
			},
			rawOp: func(ctx context.Context, _ int) error {
				_, err := st.GetObject(ctx, podInfo, benchSmallNS, randomPod())
				return err
			}},
		{name: fmt.Sprintf("list%d", o.SmallList), n: o.Lists,
			apiOp: func(ctx context.Context, _ int) error {
				return wantItems(cl.ListObjects(ctx, podInfo, benchSmallNS))(o.SmallList)
			},
			rawOp: func(ctx context.Context, _ int) error {
				return wantObjs(st.ListObjects(ctx, podInfo, benchSmallNS))(o.SmallList)
			}},
		{name: fmt.Sprintf("list%d", o.LargeList), n: max(o.Lists/10, o.Clients),
			apiOp: func(ctx context.Context, _ int) error {
				return wantItems(cl.ListObjects(ctx, podInfo, benchLargeNS))(o.LargeList)
			},
			rawOp: func(ctx context.Context, _ int) error {
				return wantObjs(st.ListObjects(ctx, podInfo, benchLargeNS))(o.LargeList)
			}},
		{name: "create", n: o.Creates,
			apiOp: func(ctx context.Context, i int) error {
				_, err := cl.CreatePod(ctx, benchPod(benchAPINS, i))
				return err
			},
			rawOp: func(ctx context.Context, i int) error {
				p := benchPod(benchStoreNS, i)
				api.SetDefaults(p)
				return st.CreateObject(ctx, p)
			}},
	}
	fmt.Fprintf(o.Out, "%-10s %6s %10s %10s %12s %12s %7s %7s %6s %6s\n", "op", "n", "api p50", "api p99", "store p50", "store p99", "x p50", "x p99", "api!", "store!")
	for _, p := range pairs {
		// The store first, then the API. A failed request is counted, not
		// timed; the first failure of each is printed.
		rawLat, rawFailed, rawErr := concurrently(ctx, o.Clients, p.n, p.rawOp)
		if rawErr != nil && rawFailed == 0 {
			return nil, fmt.Errorf("store %s: %w", p.name, rawErr)
		}
		apiLat, apiFailed, apiErr := concurrently(ctx, o.Clients, p.n, p.apiOp)
		if apiErr != nil && apiFailed == 0 {
			return nil, fmt.Errorf("api %s: %w", p.name, apiErr)
		}
		a50, a99 := Percentile(apiLat, 50), Percentile(apiLat, 99)
		r50, r99 := Percentile(rawLat, 50), Percentile(rawLat, 99)
		fmt.Fprintf(o.Out, "%-10s %6d %8sms %8sms %10sms %10sms %7s %7s %6d %6d\n", p.name, p.n, Ms(a50), Ms(a99), Ms(r50), Ms(r99),
			ratio(a50, r50), ratio(a99, r99), apiFailed, rawFailed)
		for _, e := range []struct {
			who string
			err error
		}{{"store", rawErr}, {"api", apiErr}} {
			if e.err != nil {
				fmt.Fprintf(o.Out, "  %s %s failed, first: %v\n", e.who, p.name, e.err)
			}
		}
		sum.Add(p.name+"_p50_ms", Ms(a50))
		sum.Add(p.name+"_p99_ms", Ms(a99))
		sum.Add(p.name+"_store_p50_ms", Ms(r50))
		sum.Add(p.name+"_store_p99_ms", Ms(r99))
		sum.Add(p.name+"_ratio_p50", ratio(a50, r50))
		sum.Add(p.name+"_ratio_p99", ratio(a99, r99))
		if apiFailed+rawFailed > 0 {
			sum.Add(p.name+"_api_failed", apiFailed)
			sum.Add(p.name+"_store_failed", rawFailed)
		}
	}

	fan, err := watchFanOut(ctx, cl, o.Watchers, o.Writes)
	if err != nil {
		return nil, fmt.Errorf("watch fan-out: %w", err)
	}
	f50, f99 := Percentile(fan, 50), Percentile(fan, 99)
	fmt.Fprintf(o.Out, "watch fan-out: %d watchers, %d writes: write → last delivery p50 %sms p99 %sms\n", o.Watchers, o.Writes, Ms(f50), Ms(f99))
	sum.Add("watchers", o.Watchers)
	sum.Add("writes", o.Writes)
	sum.Add("fanout_p50_ms", Ms(f50))
	sum.Add("fanout_p99_ms", Ms(f99))
	return sum, nil
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "inf"
	}
	return fmt.Sprintf("%.1f", float64(a)/float64(b))
}

func benchPod(ns string, i int) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: ns, Labels: map[string]string{"app": "bench"}},
		Spec: api.PodSpec{NodeName: benchNode, RuntimeClassName: api.RuntimeClassWasm,
			Containers: []api.Container{{Name: "main", Image: "skiff://artifacts/sha256:" + fmt.Sprintf("%064d", 0)}}},
	}
}

// fill stores n pods in ns through the store, 16 writers at once.
func fill(ctx context.Context, st *store.Store, ns string, n int) error {
	_, _, err := concurrently(ctx, 16, n, func(ctx context.Context, i int) error {
		p := benchPod(ns, i)
		api.SetDefaults(p)
		p.Status.Phase = api.PodRunning
		return st.CreateObject(ctx, p)
	})
	return err
}

func wantItems(l client.List, err error) func(int) error {
	return func(n int) error {
		if err == nil && len(l.Items) != n {
			err = fmt.Errorf("listed %d items, want %d", len(l.Items), n)
		}
		return err
	}
}

func wantObjs(objs []api.Object, _ uint64, err error) func(int) error {
	return func(n int) error {
		if err == nil && len(objs) != n {
			err = fmt.Errorf("listed %d objects, want %d", len(objs), n)
		}
		return err
	}
}

// concurrently runs op n times (i = 0…n-1) from workers goroutines and
// returns the latency of each run that succeeded, how many failed, and the
// first failure.
func concurrently(ctx context.Context, workers, n int, op func(ctx context.Context, i int) error) ([]time.Duration, int, error) {
	lat := make([]time.Duration, n)
	ok := make([]bool, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed int
	var firstErr error
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := op(ctx, i); err != nil {
					mu.Lock()
					failed++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				lat[i], ok[i] = time.Since(t), true
			}
		}()
	}
	wg.Wait()
	out := lat[:0]
	for i, d := range lat {
		if ok[i] {
			out = append(out, d)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, failed, err
	}
	return out, failed, firstErr
}

// fanOut is one write's deliveries.
type fanOut struct {
	seen int
	last time.Time
	done chan struct{}
}

// watchFanOut opens watchers watches of benchWatchNS, then creates writes
// pods there one at a time, and returns for each the time from the create
// request until the last watcher had it.
func watchFanOut(ctx context.Context, cl *client.Client, watchers, writes int) ([]time.Duration, error) {
	podInfo := api.KindOf(&api.Pod{})
	l, err := cl.ListObjects(ctx, podInfo, benchWatchNS)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	pending := map[string]*fanOut{}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for range watchers {
		ch, err := cl.Watch(ctx, podInfo, benchWatchNS, client.WatchOptions{ResourceVersion: l.ResourceVersion})
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range ch {
				if ev.Type != api.WatchAdded {
					continue
				}
				now := time.Now()
				mu.Lock()
				if f := pending[ev.Object.GetObjectMeta().Name]; f != nil {
					f.seen++
					f.last = now
					if f.seen == watchers {
						close(f.done)
					}
				}
				mu.Unlock()
			}
		}()
	}
	out := make([]time.Duration, 0, writes)
	for i := range writes {
		p := benchPod(benchWatchNS, i)
		f := &fanOut{done: make(chan struct{})}
		mu.Lock()
		pending[p.Name] = f
		mu.Unlock()
		start := time.Now()
		if _, err := cl.CreatePod(ctx, p); err != nil {
			return nil, err
		}
		select {
		case <-f.done:
		case <-time.After(30 * time.Second):
			mu.Lock()
			seen := f.seen
			mu.Unlock()
			return nil, fmt.Errorf("write %d: %d of %d watchers had it after 30s", i, seen, watchers)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		mu.Lock()
		out = append(out, f.last.Sub(start))
		mu.Unlock()
	}
	return out, nil
}
