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
	data, err := tailFile(a.local.logPath(pod.UID, name), req.TailLines, limit)
	if err != nil {
		return api.LogResponse{Error: fmt.Sprintf("read log of %s/%s container %s: %v", pod.Namespace, pod.Name, name, err)}
	}
	return api.LogResponse{Data: data}
}

// tailFile returns the end of a log file: the last tailLines lines (all
// when nil), and of those at most limit bytes, cut at a line start. The
// newest output wins, as one reading a device's log wants. A missing file
// is an empty log.
func tailFile(path string, tailLines *int64, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	// Read one byte more than the limit to know whether the first line
	// read is whole.
	start := max(size-limit-1, 0)
	buf := make([]byte, size-start)
	if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
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
	return buf, nil
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
