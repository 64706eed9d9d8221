package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
)

// DefaultLogLimitBytes is how much of a log a request gets when it sets no
// limitBytes.
const DefaultLogLimitBytes = 512 << 10

// onLogRequest answers an api.LogRequest with the container's log file.
func (a *Agent) onLogRequest(m *nats.Msg) {
	var req api.LogRequest
	var resp api.LogResponse
	if err := json.Unmarshal(m.Data, &req); err != nil {
		resp.Error = "bad log request: " + err.Error()
	} else {
		resp = a.readLog(req, a.maxLogBytes())
	}
	b, err := json.Marshal(resp)
	if err != nil {
		a.log.Error("encode log response", "err", err)
		return
	}
	if err := m.Respond(b); err != nil {
		a.log.Warn("answer log request", "pod", req.Namespace+"/"+req.Name, "err", err)
	}
}

// maxLogBytes keeps an answer under the server's payload limit once the
// JSON encoding has turned the bytes into base64.
func (a *Agent) maxLogBytes() int64 {
	mp := a.nc.MaxPayload()
	if mp <= 0 {
		mp = 1 << 20
	}
	return max((mp-4096)*3/4, 1024)
}

func (a *Agent) readLog(req api.LogRequest, maxBytes int64) api.LogResponse {
	a.mu.Lock()
	var w *podWorker
	if req.UID != "" {
		w = a.workers[req.UID]
	} else {
		w = a.workerByNameLocked(req.Namespace, req.Name)
	}
	a.mu.Unlock()
	if w == nil {
		return api.LogResponse{NotFound: true, Error: fmt.Sprintf("pod %s/%s is not on node %s", req.Namespace, req.Name, a.opts.NodeName)}
	}
	pod := w.Pod()
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	name := req.Container
	if name == "" {
		if len(names) != 1 {
			return api.LogResponse{Error: fmt.Sprintf("pod %s/%s has %d containers: name one of [%s]", pod.Namespace, pod.Name, len(names), strings.Join(names, " "))}
		}
		name = names[0]
	}
	known := false
	for _, c := range allContainers(pod) {
		known = known || c.Name == name
	}
	if !known {
		return api.LogResponse{NotFound: true, Error: fmt.Sprintf("container %q is not in pod %s/%s (it has [%s])", name, pod.Namespace, pod.Name, strings.Join(names, " "))}
	}
	limit := req.LimitBytes
	if limit <= 0 {
		limit = DefaultLogLimitBytes
	}
	limit = min(limit, maxBytes)
	path := a.local.logPath(pod.UID, name)
	// Look at the state before reading, so that a Terminated answer
	// carries everything the run wrote.
	terminated := true
	if !req.Previous {
		// Waiting with a last state: it crashed and waits out its back-off.
		rec := w.record(name)
		terminated = rec != nil && (rec.Done || rec.State.Terminated != nil || rec.State.Waiting != nil && rec.LastState.Terminated != nil)
	} else {
		path = previousLogPath(path)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return api.LogResponse{NotFound: true, Error: fmt.Sprintf("previous terminated container %q in pod %s/%s not found", name, pod.Namespace, pod.Name)}
		}
	}
	var data []byte
	var offset int64
	var err error
	if req.SinceOffset != nil {
		data, offset, err = readFrom(path, *req.SinceOffset, limit)
	} else {
		data, offset, err = tailFile(path, req.TailLines, limit)
	}
	if err != nil {
		return api.LogResponse{Error: fmt.Sprintf("read log of %s/%s container %s: %v", pod.Namespace, pod.Name, name, err)}
	}
	return api.LogResponse{Data: data, Offset: offset, Terminated: terminated}
}

// previousLogPath is where a container's log goes when it restarts.
func previousLogPath(logPath string) string {
	return strings.TrimSuffix(logPath, ".log") + ".previous.log"
}

// rotateLog keeps the log of the run that just ended as the previous log
// (one previous run is kept, as the kubelet does), so that the next run
// starts a new one. A run that wrote nothing leaves an empty previous log.
func (r *containerRunner) rotateLog() {
	path := r.a.local.logPath(r.pod.UID, r.c.Name)
	prev := previousLogPath(path)
	err := os.Rename(path, prev)
	if errors.Is(err, os.ErrNotExist) {
		err = os.WriteFile(prev, nil, 0o640)
	}
	if err != nil {
		r.log.Warn("keep the previous run's log", "err", err)
	}
}

// readFrom returns at most limit bytes of a log file from offset on, and
// the offset where they end. An offset beyond the end (the file was
// replaced by a shorter one) reads from the start. A missing file is an
// empty log.
func readFrom(path string, offset, limit int64) ([]byte, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	if offset < 0 || offset > size {
		offset = 0
	}
	buf := make([]byte, min(size-offset, limit))
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	return buf[:n], offset + int64(n), nil
}

// tailFile returns the end of a log file: the last tailLines lines (all
// when nil), and of those at most limit bytes, cut at a line start. The
// newest output wins, as one reading a device's log wants. A missing file
// is an empty log. It also returns the file's size, where the bytes end.
func tailFile(path string, tailLines *int64, limit int64) ([]byte, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	// Read one byte more than the limit to know whether the first line
	// read is whole.
	start := max(size-limit-1, 0)
	buf := make([]byte, size-start)
	n, err := f.ReadAt(buf, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	buf = buf[:n]
	size = start + int64(n)
	if start > 0 {
		// Drop the partial first line (and the extra byte).
		if i := bytes.IndexByte(buf, '\n'); i >= 0 && i+1 < len(buf) {
			buf = buf[i+1:]
		} else {
			buf = buf[1:]
		}
	}
	if tailLines != nil {
		buf = lastLines(buf, *tailLines)
	}
	if int64(len(buf)) > limit {
		buf = buf[int64(len(buf))-limit:]
	}
	return buf, size, nil
}

// lastLines returns the last n lines of b (a final line without a newline
// counts as a line).
func lastLines(b []byte, n int64) []byte {
	if n <= 0 {
		return nil
	}
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}
