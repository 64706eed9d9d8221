package runtimes

import "context"

// Execer is the optional ability to run a command in a task's context, for
// exec probes (and, later, `skiff exec`). A driver announces it by
// implementing the interface; the agent checks with a type assertion and
// reports probes it cannot run instead of failing the pod.
type Execer interface {
	// Exec runs cmd in the task with id and returns its exit code and its
	// output (stdout and stderr together, cut at MaxExecOutput bytes). A
	// command that ran and failed is a non-zero exitCode with a nil err;
	// err is for a command that could not be run at all: ErrTaskNotFound
	// for an unknown or exited task, ErrCommandNotFound for a command
	// that does not exist, ctx's error when it ended first (the command
	// is stopped).
	Exec(ctx context.Context, id string, cmd []string) (exitCode int, output []byte, err error)
}

// MaxExecOutput bounds the output Exec returns; the rest is dropped.
const MaxExecOutput = 10 << 10
