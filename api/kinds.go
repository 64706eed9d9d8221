package api

import (
	"fmt"
	"sort"
	"strings"
)

// KindInfo describes one resource kind: how it is named on the wire, in
// REST paths and in store keys.
type KindInfo struct {
	Kind       string // "Pod"
	Group      string // "" for the core group, "apps", "batch"
	Version    string // "v1"
	Resource   string // plural, lowercase: "pods"; also the store key's first token
	Singular   string // "pod"; also the events subject's kind token
	ShortNames []string
	Namespaced bool
	New        func() Object
}

// APIVersion is the apiVersion string of the kind ("v1", "apps/v1").
func (k KindInfo) APIVersion() string {
	if k.Group == "" {
		return k.Version
	}
	return k.Group + "/" + k.Version
}

// kinds is the fixed table of kinds Skiff serves.
func kinds() []KindInfo {
	return []KindInfo{
		{Kind: "Pod", Version: "v1", Resource: "pods", Singular: "pod", ShortNames: []string{"po"}, Namespaced: true, New: func() Object { return &Pod{} }},
		{Kind: "Node", Version: "v1", Resource: "nodes", Singular: "node", ShortNames: []string{"no"}, New: func() Object { return &Node{} }},
		{Kind: "Namespace", Version: "v1", Resource: "namespaces", Singular: "namespace", ShortNames: []string{"ns"}, New: func() Object { return &Namespace{} }},
		{Kind: "ConfigMap", Version: "v1", Resource: "configmaps", Singular: "configmap", ShortNames: []string{"cm"}, Namespaced: true, New: func() Object { return &ConfigMap{} }},
		{Kind: "Secret", Version: "v1", Resource: "secrets", Singular: "secret", Namespaced: true, New: func() Object { return &Secret{} }},
		{Kind: "ResourceQuota", Version: "v1", Resource: "resourcequotas", Singular: "resourcequota", ShortNames: []string{"quota"}, Namespaced: true, New: func() Object { return &ResourceQuota{} }},
		{Kind: "Deployment", Group: "apps", Version: "v1", Resource: "deployments", Singular: "deployment", ShortNames: []string{"deploy"}, Namespaced: true, New: func() Object { return &Deployment{} }},
		{Kind: "ReplicaSet", Group: "apps", Version: "v1", Resource: "replicasets", Singular: "replicaset", ShortNames: []string{"rs"}, Namespaced: true, New: func() Object { return &ReplicaSet{} }},
		{Kind: "DaemonSet", Group: "apps", Version: "v1", Resource: "daemonsets", Singular: "daemonset", ShortNames: []string{"ds"}, Namespaced: true, New: func() Object { return &DaemonSet{} }},
		{Kind: "Job", Group: "batch", Version: "v1", Resource: "jobs", Singular: "job", Namespaced: true, New: func() Object { return &Job{} }},
		{Kind: "CronJob", Group: "batch", Version: "v1", Resource: "cronjobs", Singular: "cronjob", ShortNames: []string{"cj"}, Namespaced: true, New: func() Object { return &CronJob{} }},
	}
}

// Kinds lists every kind Skiff serves.
func Kinds() []KindInfo { return kinds() }

// LookupKind finds a kind by its Kind name ("Pod"), resource ("pods"),
// singular ("pod") or short name ("po"), case-insensitively.
func LookupKind(name string) (KindInfo, bool) {
	n := strings.ToLower(name)
	for _, k := range kinds() {
		if strings.ToLower(k.Kind) == n || k.Resource == n || k.Singular == n {
			return k, true
		}
		for _, s := range k.ShortNames {
			if s == n {
				return k, true
			}
		}
	}
	return KindInfo{}, false
}

// KindOf returns the KindInfo for an object's Go type. Every type in the
// kinds table has a kindName method; KindOf panics for any other type,
// which is a programming error, not bad input.
func KindOf(obj Object) KindInfo {
	if n, ok := obj.(interface{ kindName() string }); ok {
		for _, k := range kinds() {
			if k.Kind == n.kindName() {
				return k
			}
		}
	}
	panic(fmt.Sprintf("api: %T is not a registered kind", obj))
}

func (*Pod) kindName() string           { return "Pod" }
func (*Node) kindName() string          { return "Node" }
func (*Namespace) kindName() string     { return "Namespace" }
func (*ResourceQuota) kindName() string { return "ResourceQuota" }
func (*Deployment) kindName() string    { return "Deployment" }
func (*ReplicaSet) kindName() string    { return "ReplicaSet" }
func (*DaemonSet) kindName() string     { return "DaemonSet" }
func (*Job) kindName() string           { return "Job" }
func (*CronJob) kindName() string       { return "CronJob" }
func (*ConfigMap) kindName() string     { return "ConfigMap" }
func (*Secret) kindName() string        { return "Secret" }

// KindNames lists the Kind names, sorted, for error messages.
func KindNames() []string {
	var out []string
	for _, k := range kinds() {
		out = append(out, k.Kind)
	}
	sort.Strings(out)
	return out
}
