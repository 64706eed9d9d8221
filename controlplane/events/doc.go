// Package events turns every state change of a stored object into a
// CloudEvents 1.0 JSON message on api.EventSubject and keeps them in the
// JetStream stream api.EventsStream, so `nats sub 'skiff.events.>'` and
// `nats stream view SKIFF_EVENTS` tell the story of a pod.
//
// Events are derived in one place, from watches on the store, by comparing
// each object with its previous version: whichever component made the
// change (API, scheduler, an agent's status), the event is the same.
//
// Package events imports api and store; never edge/ or runtimes/.
package events
