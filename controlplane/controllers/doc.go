// Package controllers holds Skiff's reconcile loops, as
// kube-controller-manager does: ReplicaSet, Deployment, DaemonSet, Job,
// CronJob, Namespace, garbage collection. Each is a Reconciler run by a
// Runner: informers (package informer) turn watch events into keys on a
// work queue; workers take a key, read the world from the informers, and
// write the difference through the store with compare-and-swap. A
// reconcile is idempotent and starts from what is, never from what it did
// last, so a controller converges from any state, including after a
// restart half-way; a periodic resync re-queues every key.
//
// Package controllers imports api, store and informer only.
package controllers
