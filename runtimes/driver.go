package runtimes

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Driver runs tasks (one container of a pod) on this node. Every method is
// safe for concurrent use. A task ID is chosen by the caller and unique
// among the driver's live tasks.
type Driver interface {
	// Capabilities says what the driver can do; it does not change.
	Capabilities() Capabilities

	// Start prepares and starts a task and returns once it runs. It
	// returns ErrTaskExists if the ID is taken, ErrImageNotFound if the
	// image is not on the node and cannot be fetched, ErrInvalidImage if
	// the image or module cannot be loaded, and ErrCommandNotFound if the
	// command cannot be run. Start does not wait for the task to exit.
	Start(ctx context.Context, cfg *TaskConfig) (*TaskHandle, error)

	// Wait returns a channel that receives the task's ExitResult once,
	// when it exits, and is then closed. It returns ErrTaskNotFound for
	// an unknown ID. ctx bounds only the call, not the wait.
	Wait(ctx context.Context, id string) (<-chan *ExitResult, error)

	// Stop asks the task to stop and kills it when grace has passed. It
	// returns when the task has exited; stopping an exited task is not an
	// error. It returns ErrTaskNotFound for an unknown ID.
	Stop(ctx context.Context, id string, grace time.Duration) error

	// Destroy frees everything the task holds; it stops the task first
	// if it still runs. Destroying an unknown ID is not an error.
	Destroy(ctx context.Context, id string) error

	// Inspect returns the task's current state, or ErrTaskNotFound.
	Inspect(ctx context.Context, id string) (*TaskStatus, error)

	// Recover re-attaches to a task started by an earlier process of the
	// agent, from the handle Start returned. It returns ErrTaskNotFound
	// when the task did not survive (Wasm modules live in the agent's
	// process, so they never do); the caller then restarts it per policy.
	Recover(ctx context.Context, h *TaskHandle) error
}

// Capabilities describe a driver.
type Capabilities struct {
	// Runtime is the runtime handler name nodes advertise and pods select
	// with spec.runtimeClassName: "wasm" or "containerd".
	Runtime string
	// SurvivesAgentRestart says tasks keep running when the agent
	// process exits (containers do, in-process Wasm modules do not).
	SurvivesAgentRestart bool
	// MemoryLimit and CPULimit say the driver enforces those limits.
	MemoryLimit bool
	CPULimit    bool
	// Engine says how the runtime runs code where that differs between
	// nodes ("compiler" or "interpreter" for Wasm); "" otherwise. Nodes
	// show it as the label agent.skiff.sh/<runtime>-engine.
	Engine string
}

// TaskConfig is everything a driver needs to run one container.
type TaskConfig struct {
	// ID is unique among the driver's live tasks.
	ID string
	// Pod and container identity, for labels and messages.
	PodNamespace, PodName, PodUID, ContainerName string
	// Image is what to run: for Wasm, the path of a local .wasm file the
	// agent has already fetched and verified; for containers, an image
	// reference.
	Image string
	// Command replaces the image's entrypoint; Args its arguments. For a
	// Wasm module argv is Command followed by Args, with the container
	// name as argv[0] when Command is empty.
	Command []string
	Args    []string
	// Env is the environment, in order.
	Env        []EnvVar
	WorkingDir string
	Mounts     []Mount
	// MemoryLimitBytes caps the task's memory; 0 means no limit.
	MemoryLimitBytes int64
	// CPUMillis caps the task's CPU in millicores; 0 means no limit.
	CPUMillis int64
	// LogPath is the file stdout and stderr are appended to.
	LogPath string
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name, Value string
}

// Mount makes a host directory visible to the task.
type Mount struct {
	HostPath  string
	GuestPath string
	ReadOnly  bool
}

// TaskHandle identifies a started task; the agent stores it on disk so that
// Recover can re-attach after a restart.
type TaskHandle struct {
	ID        string      `json:"id"`
	Driver    string      `json:"driver"`
	Config    *TaskConfig `json:"config"`
	StartedAt time.Time   `json:"startedAt"`
	// DriverState is the driver's own data (a container ID, a PID).
	DriverState []byte `json:"driverState,omitempty"`
}

// TaskState is the coarse state of a task.
type TaskState string

// Task states.
const (
	TaskRunning TaskState = "running"
	TaskExited  TaskState = "exited"
)

// TaskStatus is what Inspect returns.
type TaskStatus struct {
	ID        string
	State     TaskState
	StartedAt time.Time
	// Exit is set once the task has exited.
	Exit *ExitResult
}

// Exit reasons, as Kubernetes reports them in container states.
const (
	ReasonCompleted        = "Completed"
	ReasonError            = "Error"
	ReasonOOMKilled        = "OOMKilled"
	ReasonDeadlineExceeded = "DeadlineExceeded"
	ReasonStopped          = "Stopped"
)

// ExitResult is how a task ended.
type ExitResult struct {
	ExitCode   int
	Signal     int
	OOMKilled  bool
	Reason     string // one of the Reason constants
	Message    string
	FinishedAt time.Time
}

// Successful reports whether the task exited with code 0.
func (r *ExitResult) Successful() bool { return r.ExitCode == 0 && r.Signal == 0 && !r.OOMKilled }

// Errors drivers return; callers test them with errors.Is.
var (
	ErrTaskNotFound    = errors.New("task not found")
	ErrTaskExists      = errors.New("task already exists")
	ErrInvalidImage    = errors.New("invalid image")
	ErrCommandNotFound = errors.New("command not found")
)

// ErrImageNotFound is returned by Start when the image is not on the node
// and could not be fetched; the agent reports it as ErrImagePull.
var ErrImageNotFound = errors.New("image not found")

// ErrImagePlatform is returned by Start when the image is there but built
// for another OS or architecture than the node's (the message names
// both). It wraps ErrInvalidImage; the agent reports it as ErrImagePull,
// as Kubernetes reports a pull that finds no manifest for the node.
var ErrImagePlatform = fmt.Errorf("%w: built for another platform", ErrInvalidImage)
