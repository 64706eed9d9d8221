// Package containerdtest gives tests a containerd of their own and images
// to run in it, without Docker and without a registry.
//
//   - Start (or StartDaemon outside tests) launches the containerd binary
//     found on the machine with its own root, state, socket and namespace
//     under temporary directories, waits until it answers, and on cleanup
//     removes every container it ran, stops it and unmounts what it left.
//   - WriteArchive builds an OCI image layout archive (the format of
//     `ctr image import` and `docker save`) in Go from files on disk;
//     ProbeImageArchive packs the probe test program (testbed/fixtures) into
//     one, for any architecture, so a test can also build an image this
//     node must refuse.
//
// containerd needs root. Where containerd, runc or root is missing, Start
// skips the test with a message naming `go tool task deps:containerd`; when
// the CI environment variable is set it fails the test instead, because a
// CI run that skips the container tests proves nothing.
//
// Package containerdtest imports the containerd client, the OCI image-spec
// types and testbed/fixtures; it must never import a Skiff runtime driver,
// the agent or the control plane, so that their tests can all use it.
package containerdtest
