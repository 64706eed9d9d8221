package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/api"
)

// This file holds the table columns of every kind, as kubectl prints them:
// get (and get -w) and describe read them.

// kindColumns are the columns of one kind's table: header and row, and
// what -o wide adds to them.
type kindColumns struct {
	header  []string
	row     func(obj api.Object, now time.Time) []string
	wide    []string
	wideRow func(obj api.Object) []string
}

// workloadWide is what -o wide adds to a workload: its containers, their
// images and its selector.
var workloadWideHeader = []string{"CONTAINERS", "IMAGES", "SELECTOR"}

func workloadWide(spec *api.PodSpec, sel *api.LabelSelector) []string {
	return []string{orNone(containerNames(spec)), orNone(containerImages(spec)), orNone(formatSelector(sel))}
}

// columnsOf returns the columns of kind. Every kind in api.Kinds has some.
func columnsOf(kind string) kindColumns {
	switch kind {
	case "Pod":
		return kindColumns{
			header: []string{"NAME", "READY", "STATUS", "NODE", "RUNTIME", "AGE"},
			row:    func(o api.Object, now time.Time) []string { return podRow(o.(*api.Pod), now) },
			wide:   []string{"RESTARTS", "IP", "IMAGES"},
			wideRow: func(o api.Object) []string {
				p := o.(*api.Pod)
				return []string{strconv.Itoa(int(podRestarts(p))), orNone(p.Status.HostIP), podImages(p)}
			},
		}
	case "Node":
		return kindColumns{
			header: []string{"NAME", "STATUS", "ARCH", "OS", "RUNTIMES", "AGE"},
			row:    func(o api.Object, now time.Time) []string { return nodeRow(o.(*api.Node), now) },
			wide:   []string{"VERSION", "KERNEL", "INTERNAL-IP"},
			wideRow: func(o api.Object) []string {
				n := o.(*api.Node)
				info := n.Status.NodeInfo
				return []string{orNone(info.AgentVersion), orNone(info.KernelVersion), orNone(nodeAddress(n, "InternalIP"))}
			},
		}
	case "Namespace":
		return kindColumns{
			header: []string{"NAME", "STATUS", "AGE"},
			row: func(o api.Object, now time.Time) []string {
				ns := o.(*api.Namespace)
				return []string{ns.Name, namespacePhase(ns), age(ns.CreationTimestamp, now)}
			},
		}
	case "ConfigMap":
		return kindColumns{
			header: []string{"NAME", "DATA", "AGE"},
			row: func(o api.Object, now time.Time) []string {
				cm := o.(*api.ConfigMap)
				return []string{cm.Name, strconv.Itoa(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp, now)}
			},
		}
	case "Secret":
		return kindColumns{
			header: []string{"NAME", "TYPE", "DATA", "AGE"},
			row: func(o api.Object, now time.Time) []string {
				s := o.(*api.Secret)
				return []string{s.Name, orNone(s.Type), strconv.Itoa(len(s.Data)), age(s.CreationTimestamp, now)}
			},
		}
	case "ResourceQuota":
		return kindColumns{
			header: []string{"NAME", "AGE", "REQUEST", "LIMIT"},
			row: func(o api.Object, now time.Time) []string {
				q := o.(*api.ResourceQuota)
				req, lim := quotaUsage(q)
				return []string{q.Name, age(q.CreationTimestamp, now), orNone(req), orNone(lim)}
			},
		}
	case "Deployment":
		return kindColumns{
			header: []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"},
			row: func(o api.Object, now time.Time) []string {
				d := o.(*api.Deployment)
				return []string{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicasOf(d.Spec.Replicas)),
					itoa(d.Status.UpdatedReplicas), itoa(d.Status.AvailableReplicas), age(d.CreationTimestamp, now)}
			},
			wide: workloadWideHeader,
			wideRow: func(o api.Object) []string {
				d := o.(*api.Deployment)
				return workloadWide(&d.Spec.Template.Spec, d.Spec.Selector)
			},
		}
	case "ReplicaSet":
		return kindColumns{
			header: []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"},
			row: func(o api.Object, now time.Time) []string {
				rs := o.(*api.ReplicaSet)
				return []string{rs.Name, itoa(replicasOf(rs.Spec.Replicas)), itoa(rs.Status.Replicas), itoa(rs.Status.ReadyReplicas), age(rs.CreationTimestamp, now)}
			},
			wide: workloadWideHeader,
			wideRow: func(o api.Object) []string {
				rs := o.(*api.ReplicaSet)
				return workloadWide(&rs.Spec.Template.Spec, rs.Spec.Selector)
			},
		}
	case "DaemonSet":
		return kindColumns{
			header: []string{"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"},
			row: func(o api.Object, now time.Time) []string {
				ds := o.(*api.DaemonSet)
				st := ds.Status
				return []string{ds.Name, itoa(st.DesiredNumberScheduled), itoa(st.CurrentNumberScheduled), itoa(st.NumberReady),
					itoa(st.UpdatedNumberScheduled), itoa(st.NumberAvailable), orNone(formatLabels(ds.Spec.Template.Spec.NodeSelector)),
					age(ds.CreationTimestamp, now)}
			},
			wide: workloadWideHeader,
			wideRow: func(o api.Object) []string {
				ds := o.(*api.DaemonSet)
				return workloadWide(&ds.Spec.Template.Spec, ds.Spec.Selector)
			},
		}
	case "Job":
		return kindColumns{
			header: []string{"NAME", "COMPLETIONS", "DURATION", "AGE"},
			row: func(o api.Object, now time.Time) []string {
				j := o.(*api.Job)
				return []string{j.Name, jobCompletions(j), jobDuration(j, now), age(j.CreationTimestamp, now)}
			},
			wide: workloadWideHeader,
			wideRow: func(o api.Object) []string {
				j := o.(*api.Job)
				return workloadWide(&j.Spec.Template.Spec, j.Spec.Selector)
			},
		}
	case "CronJob":
		return kindColumns{
			header: []string{"NAME", "SCHEDULE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"},
			row: func(o api.Object, now time.Time) []string {
				cj := o.(*api.CronJob)
				last := "<none>"
				if t := cj.Status.LastScheduleTime; t != nil {
					last = age(*t, now)
				}
				return []string{cj.Name, cj.Spec.Schedule, strconv.FormatBool(boolOf(cj.Spec.Suspend)), strconv.Itoa(len(cj.Status.Active)),
					last, age(cj.CreationTimestamp, now)}
			},
			wide: workloadWideHeader,
			wideRow: func(o api.Object) []string {
				cj := o.(*api.CronJob)
				return workloadWide(&cj.Spec.JobTemplate.Spec.Template.Spec, cj.Spec.JobTemplate.Spec.Selector)
			},
		}
	}
	// A kind without columns of its own: name and age.
	return kindColumns{
		header: []string{"NAME", "AGE"},
		row: func(o api.Object, now time.Time) []string {
			m := o.GetObjectMeta()
			return []string{m.Name, age(m.CreationTimestamp, now)}
		},
	}
}

// tableOf is the header and the rows of a table of objs: the kind's
// columns, NAMESPACE first for a namespaced kind listed across namespaces,
// and the wide columns with -o wide.
func tableOf(info api.KindInfo, objs []api.Object, withNamespace, wide bool, now time.Time) ([]string, [][]string) {
	cols := columnsOf(info.Kind)
	withNamespace = withNamespace && info.Namespaced
	wide = wide && cols.wideRow != nil
	header := append([]string(nil), cols.header...)
	if withNamespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	if wide {
		header = append(header, cols.wide...)
	}
	var rows [][]string
	for _, obj := range objs {
		if api.KindOf(obj).Kind != info.Kind {
			continue
		}
		row := cols.row(obj, now)
		if withNamespace {
			row = append([]string{obj.GetObjectMeta().Namespace}, row...)
		}
		if wide {
			row = append(row, cols.wideRow(obj)...)
		}
		rows = append(rows, row)
	}
	return header, rows
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// replicasOf is spec.replicas, which defaults to 1.
func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func boolOf(b *bool) bool { return b != nil && *b }

func namespacePhase(ns *api.Namespace) string {
	if ns.Status.Phase == "" {
		return api.NamespaceActive
	}
	return ns.Status.Phase
}

func containerNames(spec *api.PodSpec) string {
	names := make([]string, len(spec.Containers))
	for i, c := range spec.Containers {
		names[i] = c.Name
	}
	return strings.Join(names, ",")
}

func containerImages(spec *api.PodSpec) string {
	imgs := make([]string, len(spec.Containers))
	for i, c := range spec.Containers {
		imgs[i] = c.Image
	}
	return strings.Join(imgs, ",")
}

// formatLabels writes a label map as a selector: k1=v1,k2=v2, sorted.
func formatLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// formatSelector writes a label selector in the syntax -l reads:
// app=web,env in (a,b),legacy,!old.
func formatSelector(sel *api.LabelSelector) string {
	if sel == nil {
		return ""
	}
	var parts []string
	if s := formatLabels(sel.MatchLabels); s != "" {
		parts = append(parts, s)
	}
	for _, r := range sel.MatchExpressions {
		switch r.Operator {
		case api.LabelSelectorOpIn:
			parts = append(parts, fmt.Sprintf("%s in (%s)", r.Key, strings.Join(r.Values, ",")))
		case api.LabelSelectorOpNotIn:
			parts = append(parts, fmt.Sprintf("%s notin (%s)", r.Key, strings.Join(r.Values, ",")))
		case api.LabelSelectorOpExists:
			parts = append(parts, r.Key)
		case api.LabelSelectorOpDoesNotExist:
			parts = append(parts, "!"+r.Key)
		}
	}
	return strings.Join(parts, ",")
}

// jobCompletions is the COMPLETIONS column: succeeded/completions, or
// succeeded/1 of parallelism for a work queue.
func jobCompletions(j *api.Job) string {
	if j.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	}
	if p := j.Spec.Parallelism; p != nil && *p > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, *p)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

// jobDuration is how long the job ran, or has run so far.
func jobDuration(j *api.Job, now time.Time) string {
	if j.Status.StartTime == nil {
		return ""
	}
	end := now
	if j.Status.CompletionTime != nil {
		end = *j.Status.CompletionTime
	}
	return humanDuration(end.Sub(*j.Status.StartTime))
}

// humanDuration writes a duration in two units at most, as kubectl does:
// 45s, 2m30s, 12m, 5h10m, 3d4h.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	secs := int(d / time.Second)
	mins := secs / 60
	hours := mins / 60
	switch {
	case secs < 120:
		return fmt.Sprintf("%ds", secs)
	case mins < 10:
		if s := secs % 60; s != 0 {
			return fmt.Sprintf("%dm%ds", mins, s)
		}
		return fmt.Sprintf("%dm", mins)
	case mins < 180:
		return fmt.Sprintf("%dm", mins)
	case hours < 8:
		if m := mins % 60; m != 0 {
			return fmt.Sprintf("%dh%dm", hours, m)
		}
		return fmt.Sprintf("%dh", hours)
	case hours < 48:
		return fmt.Sprintf("%dh", hours)
	case hours < 24*8:
		if h := hours % 24; h != 0 {
			return fmt.Sprintf("%dd%dh", hours/24, h)
		}
		return fmt.Sprintf("%dd", hours/24)
	case hours < 24*365*2:
		return fmt.Sprintf("%dd", hours/24)
	}
	return fmt.Sprintf("%dy", hours/24/365)
}

// quotaUsage is a quota's REQUEST and LIMIT columns: "used/hard" per
// resource, limits.* in LIMIT and everything else in REQUEST.
func quotaUsage(q *api.ResourceQuota) (request, limit string) {
	hard := q.Status.Hard
	if len(hard) == 0 {
		hard = q.Spec.Hard
	}
	names := make([]string, 0, len(hard))
	for n := range hard {
		names = append(names, string(n))
	}
	sort.Strings(names)
	var req, lim []string
	for _, n := range names {
		used := q.Status.Used[api.ResourceName(n)]
		if used == "" {
			used = "0"
		}
		cell := fmt.Sprintf("%s: %s/%s", n, used, hard[api.ResourceName(n)])
		if strings.HasPrefix(n, "limits.") {
			lim = append(lim, cell)
		} else {
			req = append(req, cell)
		}
	}
	return strings.Join(req, ", "), strings.Join(lim, ", ")
}
