package dispatch

import (
	"context"
	"sort"
	"sync"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// configs keeps the ConfigMaps and Secrets that pods may reference, so that
// a pod's push and a node's sync carry the ones its pods need (a node never
// gets a Secret no pod of it references), and a change to one is pushed to
// the nodes whose pods reference it.
type configs struct {
	cms     *store.Resource[*api.ConfigMap]
	secrets *store.Resource[*api.Secret]

	mu       sync.Mutex
	cmByKey  map[string]*api.ConfigMap // namespace/name
	secByKey map[string]*api.Secret
	loaded   int           // kinds whose watch sent Synced
	ready    chan struct{} // closed once both kinds were loaded
}

func newConfigs(st *store.Store) *configs {
	return &configs{
		cms: store.For[*api.ConfigMap](st), secrets: store.For[*api.Secret](st),
		cmByKey: map[string]*api.ConfigMap{}, secByKey: map[string]*api.Secret{},
		ready: make(chan struct{}),
	}
}

// start watches both kinds; onChange is called (outside the lock) with the
// namespace of each changed object and an assignment carrying it.
func (c *configs) start(ctx context.Context, wg *sync.WaitGroup, onChange func(ns, name string, a api.PodAssignment, isSecret bool)) error {
	cmEvents, err := c.cms.Watch(ctx, store.WatchOptions{})
	if err != nil {
		return err
	}
	secEvents, err := c.secrets.Watch(ctx, store.WatchOptions{})
	if err != nil {
		return err
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ev := range cmEvents {
			key := ev.Namespace + "/" + ev.Name
			c.mu.Lock()
			switch ev.Type {
			case store.Synced:
				c.loadedLocked()
			case store.Added, store.Modified:
				c.cmByKey[key] = ev.Object
			case store.Deleted:
				delete(c.cmByKey, key)
			}
			c.mu.Unlock()
			if ev.Type == store.Added || ev.Type == store.Modified {
				onChange(ev.Object.Namespace, ev.Object.Name, api.PodAssignment{ConfigMaps: []api.ConfigMap{*ev.Object}}, false)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for ev := range secEvents {
			key := ev.Namespace + "/" + ev.Name
			c.mu.Lock()
			switch ev.Type {
			case store.Synced:
				c.loadedLocked()
			case store.Added, store.Modified:
				c.secByKey[key] = ev.Object
			case store.Deleted:
				delete(c.secByKey, key)
			}
			c.mu.Unlock()
			if ev.Type == store.Added || ev.Type == store.Modified {
				onChange(ev.Object.Namespace, ev.Object.Name, api.PodAssignment{Secrets: []api.Secret{*ev.Object}}, true)
			}
		}
	}()
	return nil
}

func (c *configs) loadedLocked() {
	c.loaded++
	if c.loaded == 2 {
		close(c.ready)
	}
}

// forPods returns the ConfigMaps and Secrets the pods reference that
// exist, each once, sorted by namespace and name.
func (c *configs) forPods(pods ...*api.Pod) ([]api.ConfigMap, []api.Secret) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmSeen, secSeen := map[string]bool{}, map[string]bool{}
	var cms []api.ConfigMap
	var secs []api.Secret
	for _, p := range pods {
		refs := p.Spec.Refs()
		for _, n := range refs.ConfigMaps {
			key := p.Namespace + "/" + n
			if cm := c.cmByKey[key]; cm != nil && !cmSeen[key] {
				cmSeen[key] = true
				cms = append(cms, *cm)
			}
		}
		for _, n := range refs.Secrets {
			key := p.Namespace + "/" + n
			if s := c.secByKey[key]; s != nil && !secSeen[key] {
				secSeen[key] = true
				secs = append(secs, *s)
			}
		}
	}
	sort.Slice(cms, func(i, j int) bool { return cms[i].Namespace+"/"+cms[i].Name < cms[j].Namespace+"/"+cms[j].Name })
	sort.Slice(secs, func(i, j int) bool { return secs[i].Namespace+"/"+secs[i].Name < secs[j].Namespace+"/"+secs[j].Name })
	return cms, secs
}

// references reports whether p uses the ConfigMap (or Secret) ns/name.
func references(p *api.Pod, ns, name string, isSecret bool) bool {
	if p.Namespace != ns {
		return false
	}
	refs := p.Spec.Refs()
	list := refs.ConfigMaps
	if isSecret {
		list = refs.Secrets
	}
	for _, n := range list {
		if n == name {
			return true
		}
	}
	return false
}
